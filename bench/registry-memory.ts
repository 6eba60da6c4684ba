/**
 * Fake registry memory with a 10,000-image catalog: `pullstorm registry serve
 * --synthetic 10000` as a user starts it, its resident memory idle, after a
 * sample of the images has been pulled by tag (each first manifest GET builds
 * the image: manifests, config and layer digests, generating the layers), and
 * after every image has been.
 *
 *   npm run bench:memory [-- --images 10000 --sample 1000 --all --default-only]
 *
 * Writes bench/results/registry-memory.json and prints a table. RSS and peak
 * RSS (VmRSS, VmHWM) come from /proc/PID/status.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Catalog } from "../fake-registry/catalog/catalog.ts";
import { loadavg, memoryMiB, runInfo } from "./lib/env.ts";
import { MANIFEST_ACCEPT } from "./lib/registry-client.ts";
import { fmt, table, verdict, writeFormattedResult } from "./lib/report.ts";
import { type Server, startFakeRegistry } from "./lib/servers.ts";
import { round } from "./lib/wrk.ts";

const TARGET_MIB = 150;

const { values: flags } = parseArgs({
  options: {
    images: { type: "string", default: "10000" },
    sample: { type: "string", default: "1000" },
    /** Also pull every other image (minutes), after the sample. */
    all: { type: "boolean", default: false },
    /** Only the default settings, not the tuned ones too. */
    "default-only": { type: "boolean", default: false },
    concurrency: { type: "string", default: "8" },
    seed: { type: "string", default: "1" },
    out: { type: "string", default: "registry-memory" },
  },
});

const images = Number(flags.images);
const sample = Math.min(images, Number(flags.sample));
const concurrency = Number(flags.concurrency);
const seed = Number(flags.seed);

interface Point {
  phase: string;
  /** Synthetic images pulled by tag so far. */
  touched: number;
  rssMiB: number;
  peakMiB: number;
  seconds: number;
}

/** Pulls each image's `latest` manifest (the first GET builds it), `concurrency` at a time. */
async function touch(url: string, names: string[]): Promise<number> {
  let next = 0;
  let failed = 0;
  const worker = async () => {
    while (next < names.length) {
      const name = names[next++] as string;
      const res = await fetch(`${url}/v2/${name}/manifests/latest`, {
        headers: { accept: MANIFEST_ACCEPT },
      });
      await res.arrayBuffer();
      if (res.status !== 200) failed++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return failed;
}

/** Environment that trades a little speed for memory: see docs/benchmarks.md. */
const TUNED: NodeJS.ProcessEnv = {
  NODE_OPTIONS: "--max-semi-space-size=1",
  MALLOC_ARENA_MAX: "2",
  MALLOC_TRIM_THRESHOLD_: "131072",
  MALLOC_MMAP_THRESHOLD_: "131072",
};

interface Measured {
  config: string;
  env: NodeJS.ProcessEnv;
  points: Point[];
}

async function measure(
  config: string,
  env: NodeJS.ProcessEnv,
  sampled: string[],
  rest: string[],
  step: number,
): Promise<Measured> {
  let server: Server | undefined;
  const points: Point[] = [];
  const started = performance.now();
  process.stderr.write(`${config}:\n`);
  try {
    server = await startFakeRegistry({
      env,
      args: [
        "--no-auth",
        "--seed",
        String(seed),
        "--synthetic",
        String(images),
        "--policy",
        join(import.meta.dirname, "fixtures/policy-unreached.yaml"),
        "--log-level",
        "warn",
      ],
    });
    const pid = server.pid;
    const mark = (phase: string, touched: number) => {
      const m = memoryMiB(pid);
      const point = {
        phase,
        touched,
        rssMiB: round(m.rss, 1),
        peakMiB: round(m.peak, 1),
        seconds: round((performance.now() - started) / 1000, 1),
      };
      points.push(point);
      process.stderr.write(
        `  ${phase}: ${fmt(touched)} images pulled, RSS ${point.rssMiB} MiB (peak ${point.peakMiB})\n`,
      );
    };
    // A moment for the collector to catch up with what the last requests left behind.
    const settle = () => new Promise((r) => setTimeout(r, 2_000));
    await settle();
    mark("idle", 0);
    let failed = await touch(server.url, sampled);
    await settle();
    mark(`sample (every ${step}th image)`, sampled.length);
    if (flags.all) {
      failed += await touch(server.url, rest);
      await settle();
      mark("every image", sampled.length + rest.length);
    }
    if (failed > 0) throw new Error(`${failed} manifest requests failed`);
  } finally {
    await server?.stop();
  }
  return { config, env, points };
}

async function main(): Promise<void> {
  const info = await runInfo();
  // The same names the server makes from the same seed (faker-named synthetic images).
  const names = new Catalog({ seed, synthetic: images })
    .names()
    .filter((n) => n.startsWith("synthetic/"));
  if (names.length !== images) throw new Error(`expected ${images} synthetic names`);
  // Every k-th image: spread over the catalog, the same sample every run.
  const step = Math.max(1, Math.floor(images / sample));
  const sampled = names.filter((_, i) => i % step === 0).slice(0, sample);
  const chosen = new Set(sampled);
  const rest = names.filter((n) => !chosen.has(n));

  // Node keeps stripped and compiled sources in its compile cache (bin/pullstorm.js turns it
  // on): a first start after a change compiles (and loads the TypeScript stripper, about 15
  // MB); users' starts after that do not. Measure one of those.
  const warm = await startFakeRegistry({ args: ["--no-auth", "--log-level", "warn"] });
  await warm.stop();

  const configs: Measured[] = [await measure("default", {}, sampled, rest, step)];
  if (!flags["default-only"]) configs.push(await measure("tuned", TUNED, sampled, rest, step));

  const byDefault = (configs[0] as Measured).points;
  const atSample = byDefault.find((p) => p.phase.startsWith("sample")) as Point;
  const idle = byDefault[0] as Point;
  const result = {
    benchmark: "registry-memory",
    description: `fake registry RSS with a ${fmt(images)}-image catalog (--synthetic ${images}): idle, after pulling a sample of ${fmt(sampled.length)} images by tag${flags.all ? ", after pulling every image" : ""}; default Node settings, and tuned (smaller V8 young generation, glibc malloc returning memory)`,
    command: `npm run bench:memory -- ${process.argv.slice(2).join(" ")}`.trim(),
    ...info,
    loadavgAtEnd: loadavg(),
    setup: {
      flags: `--no-auth --seed ${seed} --synthetic ${images} --policy bench/fixtures/policy-unreached.yaml --log-level warn`,
      sample: sampled.length,
      concurrency,
    },
    configurations: configs,
    target: {
      target: `< ${TARGET_MIB} MiB RSS`,
      /** Judged on the default settings: peak RSS after the sample was pulled. */
      actual: atSample.peakMiB,
      idle: idle.rssMiB,
      pass: atSample.peakMiB < TARGET_MIB,
    },
  };
  const file = await writeFormattedResult(flags.out, result);
  const rows = configs.flatMap((c) =>
    c.points.map((p) => [c.config, p.phase, p.touched, p.rssMiB, p.peakMiB, p.seconds]),
  );
  process.stdout.write(
    `\n${table(["settings", "phase", "images pulled", "RSS MiB", "peak MiB", "at s"], rows)}\n\n${table(
      ["target", "idle RSS MiB", "peak RSS MiB after the sample", ""],
      [[`< ${TARGET_MIB} MiB`, idle.rssMiB, atSample.peakMiB, verdict(result.target.pass)]],
    )}\n\nload average at the end ${loadavg().join(" ")}; wrote ${file}\n`,
  );
}

await main();
