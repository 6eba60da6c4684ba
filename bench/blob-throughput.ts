/**
 * Blob throughput for one 100 MB layer: the fake registry (token check on,
 * the layer generated once and served from memory) vs CNCF distribution
 * serving the same blob from its filesystem storage. Same wrk threads,
 * connections and duration for both, rounds interleaved.
 *
 *   npm run bench:blob [-- --size 100MB --connections 4 --threads 2 --seconds 10 --rounds 3]
 *
 * Writes bench/results/blob-throughput.json and prints a table.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadavg, memoryMiB, runInfo } from "./lib/env.ts";
import { fetchBytes, fetchToken, MANIFEST_ACCEPT } from "./lib/registry-client.ts";
import { best, fmt, table, verdict, writeFormattedResult } from "./lib/report.ts";
import {
  copyImage,
  distributionVersion,
  have,
  type Server,
  startDistribution,
  startFakeRegistry,
  tempDir,
} from "./lib/servers.ts";
import { round, runWrk, type WrkResult } from "./lib/wrk.ts";

const TARGET = 1;
const IMAGE = "bench/big-layer";

const { values: flags } = parseArgs({
  options: {
    size: { type: "string", default: "100MB" },
    seconds: { type: "string", default: "10" },
    rounds: { type: "string", default: "3" },
    warmup: { type: "string", default: "3" },
    connections: { type: "string", default: "4" },
    threads: { type: "string", default: "2" },
    // Unpinned by default: pinned (--server-cpus 1 --wrk-cpus 0) wrk's one core is what limits
    // both servers (docs/benchmarks.md); sharing both cores, the server's cost per byte shows.
    "server-cpus": { type: "string", default: "" },
    "wrk-cpus": { type: "string", default: "" },
    out: { type: "string", default: "blob-throughput" },
  },
});

const seconds = Number(flags.seconds);
const rounds = Number(flags.rounds);
const connections = Number(flags.connections);
const threads = Number(flags.threads);
const serverCpus = flags["server-cpus"] || undefined;
const wrkCpus = flags["wrk-cpus"] || undefined;
const USER = "bench";
const PASSWORD = "bench";

interface Contender {
  key: string;
  label: string;
  server: Server;
  url: string;
  runs: WrkResult[];
}

const MIB = 1024 * 1024;

async function main(): Promise<void> {
  for (const tool of ["wrk", "docker-registry", "skopeo"]) {
    if (!(await have(tool))) {
      process.stderr.write(
        `${tool} is not installed (apt-get install ${tool === "wrk" ? "wrk" : tool})\n`,
      );
      process.exit(2);
    }
  }
  const info = await runInfo();
  const tmp = tempDir("pullstorm-bench-blob-");
  const servers: Server[] = [];
  try {
    const catalog = join(tmp.dir, "catalog.yaml");
    writeFileSync(
      catalog,
      [
        "images:",
        `  - name: ${IMAGE}`,
        "    tags: [latest]",
        "    platforms: [linux/amd64]",
        "    layers: 1",
        `    layerSize: ${flags.size}`,
        "    format: oci",
        "",
      ].join("\n"),
    );
    const fake = await startFakeRegistry({
      ...(serverCpus ? { cpus: serverCpus } : {}),
      args: [
        "--user",
        `${USER}:${PASSWORD}:pro`,
        "--catalog",
        catalog,
        "--policy",
        join(import.meta.dirname, "fixtures/policy-unreached.yaml"),
        "--token-lifetime",
        "86400",
        "--log-level",
        "warn",
      ],
    });
    servers.push(fake);
    const token = await fetchToken(fake.url, IMAGE, `${USER}:${PASSWORD}`);
    const auth = { authorization: `Bearer ${token}` };
    // The first manifest request builds the image: the layer is generated then (seconds for 100 MB).
    const started = performance.now();
    const manifest = await fetchBytes(`${fake.url}/v2/${IMAGE}/manifests/latest`, {
      ...auth,
      accept: MANIFEST_ACCEPT,
    });
    const buildSeconds = (performance.now() - started) / 1000;
    if (manifest.status !== 200) throw new Error(`manifest: ${manifest.status}`);
    const layer = (
      JSON.parse(manifest.body.toString()) as { layers: Array<{ digest: string; size: number }> }
    ).layers[0];
    if (!layer) throw new Error("the image has no layer");
    const blobPath = `/v2/${IMAGE}/blobs/${layer.digest}`;
    const fakeBlob = await fetchBytes(`${fake.url}${blobPath}`, auth);
    if (fakeBlob.status !== 200 || fakeBlob.sha256 !== layer.digest)
      throw new Error(`fake registry blob: ${fakeBlob.status} ${fakeBlob.sha256}`);

    const dist = await startDistribution({
      dir: join(tmp.dir, "distribution"),
      ...(serverCpus ? { cpus: serverCpus } : {}),
    });
    servers.push(dist);
    const version = await distributionVersion();
    await copyImage({
      from: fake.url,
      to: dist.url,
      image: `${IMAGE}:latest`,
      credentials: `${USER}:${PASSWORD}`,
    });
    const distBlob = await fetchBytes(`${dist.url}${blobPath}`, {});
    if (distBlob.status !== 200 || distBlob.sha256 !== layer.digest)
      throw new Error(`distribution blob: ${distBlob.status} ${distBlob.sha256}`);
    const contenders: Contender[] = [
      {
        key: "fake",
        label: "fake registry",
        server: fake,
        url: `${fake.url}${blobPath}`,
        runs: [],
      },
      {
        key: "distribution",
        label: `distribution ${version}${serverCpus ? ` (CPU ${serverCpus})` : ""}`,
        server: dist,
        url: `${dist.url}${blobPath}`,
        runs: [],
      },
    ];
    if (serverCpus) {
      const distAll = await startDistribution({ dir: join(tmp.dir, "distribution") });
      servers.push(distAll);
      contenders.push({
        key: "distribution-all-cpus",
        label: `distribution ${version} (all CPUs)`,
        server: distAll,
        url: `${distAll.url}${blobPath}`,
        runs: [],
      });
    }

    const wrk = (c: Contender, secs: number) =>
      runWrk({
        url: c.url,
        connections,
        threads,
        seconds: secs,
        headers: auth,
        serverPid: c.server.pid,
        timeoutSeconds: 60,
        ...(wrkCpus ? { cpus: wrkCpus } : {}),
      });
    process.stderr.write(
      `blob ${layer.digest} (${fmt(layer.size)} bytes); warm-up ${flags.warmup}s each, then ${rounds} rounds of ${seconds}s: wrk -t${threads} -c${connections}\n`,
    );
    for (const c of contenders) await wrk(c, Number(flags.warmup));
    for (let r = 0; r < rounds; r++) {
      for (const c of contenders) {
        const run = await wrk(c, seconds);
        c.runs.push(run);
        process.stderr.write(
          `  round ${r + 1} ${c.label}: ${fmt(run.bytesPerSecond / MIB)} MiB/s (${run.requests} blobs), non-2xx ${run.non2xx}, load ${run.loadavg[0]}\n`,
        );
      }
    }
    const fakeRss = memoryMiB(fake.pid);

    const bestOf = (c: Contender) => best(c.runs, (r) => r.bytesPerSecond);
    const fakeC = contenders[0] as Contender;
    const distC = best(contenders.slice(1), (c) => bestOf(c).bytesPerSecond);
    const ratio = round(bestOf(fakeC).bytesPerSecond / bestOf(distC).bytesPerSecond, 2);
    const result = {
      benchmark: "blob-throughput",
      description: `GET of one ${flags.size} layer blob: fake registry (token check on, layer served from memory) vs CNCF distribution (filesystem), same wrk load`,
      command: `npm run bench:blob -- ${process.argv.slice(2).join(" ")}`.trim(),
      ...info,
      loadavgAtEnd: loadavg(),
      setup: {
        blob: { digest: layer.digest, bytes: layer.size },
        fakeRegistryFirstBuildSeconds: round(buildSeconds, 1),
        fakeRegistryRssMiB: { rss: round(fakeRss.rss), peak: round(fakeRss.peak) },
        wrk: { threads, connections, seconds, rounds, warmupSeconds: Number(flags.warmup) },
        cpus: { servers: serverCpus ?? "any", wrk: wrkCpus ?? "any" },
        distribution: {
          version,
          mode: "plain registry (no proxy, no auth), filesystem storage, image pushed with skopeo copy --all --preserve-digests",
          comparedWith: distC.key,
        },
      },
      results: contenders.map((c) => ({
        server: c.key,
        label: c.label,
        bestMiBPerSecond: round(bestOf(c).bytesPerSecond / MIB),
        bestBlobsPerSecond: round(bestOf(c).requestsPerSecond, 2),
        runs: c.runs,
      })),
      ratio,
      target: { target: TARGET, actual: ratio, pass: ratio >= TARGET },
    };
    const file = await writeFormattedResult(flags.out, result);
    process.stdout.write(
      `\n${table(
        ["server", "best MiB/s", "blobs/s", "CPU us/blob", "runs MiB/s"],
        contenders.map((c) => {
          const b = bestOf(c);
          return [
            c.label,
            round(b.bytesPerSecond / MIB),
            round(b.requestsPerSecond, 2),
            b.serverCpuMicrosPerRequest ?? "",
            c.runs.map((r) => fmt(r.bytesPerSecond / MIB)).join(" / "),
          ];
        }),
      )}\n\n${table(
        ["ratio", "target", "actual", ""],
        [["fake / distribution", `>= ${TARGET}`, ratio, verdict(ratio >= TARGET)]],
      )}\n\nload average at the end ${loadavg().join(" ")}; wrote ${file}\n`,
    );
  } finally {
    for (const s of servers.reverse()) await s.stop().catch(() => {});
    tmp.cleanup();
  }
}

await main();
