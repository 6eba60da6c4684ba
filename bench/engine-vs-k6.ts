/**
 * Request rate of the native live engine vs k6 against the same fake registry
 * from the same machine. Both send the same request (a manifest GET with a
 * bearer token and containerd's Accept header) from VUS concurrent clients
 * for the same time, as fast as answers come:
 *   - native: the live engine's transport (simulator/engine/transport.ts
 *     HttpTransport): one connection per request from a 127.0.0.x source
 *     address per client, as `pullstorm run` sends every request;
 *   - k6 (tools/bin/k6, scripts/install-k6.sh): bench/lib/k6-manifests.js
 *     with --no-connection-reuse and --local-ips giving each VU the same
 *     address as the native client of the same number.
 * k6 with keep-alive (its default) is measured too, for reference.
 *
 *   npm run bench:engines [-- --vus 32 --seconds 6 --rounds 5]
 *
 * Writes bench/results/engine-vs-k6.json and prints a table.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { runCommand } from "../simulator/util/processes.ts";
import { cpuSeconds, loadavg, runInfo } from "./lib/env.ts";
import { fetchBytes, fetchToken, MANIFEST_ACCEPT, splitImage } from "./lib/registry-client.ts";
import { best, fmt, table, verdict, writeFormattedResult } from "./lib/report.ts";
import { NODE, pinned, ROOT, type Server, startFakeRegistry, tempDir } from "./lib/servers.ts";
import { round } from "./lib/wrk.ts";

const TARGET = 1;

const { values: flags } = parseArgs({
  options: {
    vus: { type: "string", default: "32" },
    // More, shorter rounds than the other benchmarks: a run's rate depends on how many
    // TIME_WAIT sockets earlier runs left (a connection per request), so it swings more.
    seconds: { type: "string", default: "6" },
    rounds: { type: "string", default: "5" },
    image: { type: "string", default: "library/nginx:1.25" },
    k6: { type: "string", default: join(ROOT, "tools/bin/k6") },
    "server-cpus": { type: "string", default: "1" },
    "load-cpus": { type: "string", default: "0" },
    out: { type: "string", default: "engine-vs-k6" },
  },
});

const vus = Number(flags.vus);
const seconds = Number(flags.seconds);
const rounds = Number(flags.rounds);
const serverCpus = flags["server-cpus"] || undefined;
const loadCpus = flags["load-cpus"] || undefined;
const USER = "bench";
const PASSWORD = "bench";

interface Run {
  requests: number;
  ok: number;
  seconds: number;
  requestsPerSecond: number;
  /** Registry CPU seconds during the run. */
  serverCpuSeconds: number;
  /** TCP sockets in TIME_WAIT when the run started (/proc/net/sockstat). */
  timeWaitAtStart: number;
  loadavg: [number, number, number];
}

interface Engine {
  key: "native" | "k6" | "k6-keepalive";
  label: string;
  runs: Run[];
  command(
    url: string,
    token: string,
    summary: string,
  ): Promise<[string, string[], NodeJS.ProcessEnv]>;
}

async function main(): Promise<void> {
  if (!(vus >= 1 && vus <= 250)) {
    process.stderr.write("--vus must be 1 to 250 (one 127.0.0.x source address each)\n");
    process.exit(2);
  }
  if (!existsSync(flags.k6)) {
    process.stderr.write(`k6 not found at ${flags.k6}: build it with scripts/install-k6.sh\n`);
    process.exit(2);
  }
  const info = await runInfo();
  const k6Version = (await runCommand(flags.k6, ["version"], { timeoutMs: 10_000 })).stdout.trim();
  const tmp = tempDir("pullstorm-bench-engines-");
  let server: Server | undefined;
  try {
    const { name, reference } = splitImage(flags.image);
    server = await startFakeRegistry({
      ...(serverCpus ? { cpus: serverCpus } : {}),
      args: [
        "--user",
        `${USER}:${PASSWORD}:pro`,
        "--policy",
        join(ROOT, "bench/fixtures/policy-unreached.yaml"),
        "--token-lifetime",
        "86400",
        "--log-level",
        "warn",
      ],
    });
    // Clients connect to 127.0.0.1 from 127.0.0.x source addresses (all loopback).
    const base = server.url;
    const token = await fetchToken(base, name, `${USER}:${PASSWORD}`);
    const url = `${base}/v2/${name}/manifests/${reference}`;
    const check = await fetchBytes(url, {
      authorization: `Bearer ${token}`,
      accept: MANIFEST_ACCEPT,
    });
    if (check.status !== 200) throw new Error(`the registry answered ${check.status}`);

    const k6 = (reuse: boolean) => async (u: string, t: string, summary: string) =>
      pinned(loadCpus, flags.k6, [
        "run",
        "--quiet",
        "--no-usage-report",
        "--vus",
        String(vus),
        "--duration",
        `${seconds}s`,
        "--local-ips",
        `127.0.0.2-127.0.0.${1 + vus}`,
        ...(reuse ? [] : ["--no-connection-reuse"]),
        join(ROOT, "bench/lib/k6-manifests.js"),
      ]).then(([c, a]): [string, string[], NodeJS.ProcessEnv] => [
        c,
        a,
        { URL: u, TOKEN: t, ACCEPT: MANIFEST_ACCEPT, SUMMARY: summary },
      ]);
    const engines: Engine[] = [
      {
        key: "native",
        label: "native live engine (HttpTransport)",
        runs: [],
        command: async (u, t) => {
          const [c, a] = await pinned(loadCpus, NODE, [
            join(ROOT, "bench/lib/native-load.ts"),
            u,
            t,
            String(vus),
            String(seconds),
          ]);
          return [c, a, {}];
        },
      },
      {
        key: "k6",
        label: `k6 ${k6Version.split(" ")[1] ?? ""}, a connection per request`,
        runs: [],
        command: k6(false),
      },
      { key: "k6-keepalive", label: "k6, keep-alive (reference)", runs: [], command: k6(true) },
    ];

    const once = async (engine: Engine, index: number): Promise<Run> => {
      const summary = join(tmp.dir, `${engine.key}-${index}.json`);
      const [command, args, env] = await engine.command(url, token, summary);
      const timeWaitAtStart = timeWait();
      const cpu0 = cpuSeconds((server as Server).pid);
      const result = await runCommand(command, args, {
        cwd: ROOT,
        env: { ...process.env, ...env },
        timeoutMs: (seconds + 120) * 1000,
      });
      const cpu1 = cpuSeconds((server as Server).pid);
      if (result.status !== 0)
        throw new Error(`${engine.label} failed (${result.status}): ${result.stderr.slice(-2000)}`);
      const out = JSON.parse(
        engine.key === "native" ? result.stdout : readFileSync(summary, "utf8"),
      ) as { requests: number; ok: number; seconds: number };
      return {
        ...out,
        seconds: round3(out.seconds),
        requestsPerSecond: round(out.requests / out.seconds),
        serverCpuSeconds: round(cpu1 - cpu0, 2),
        timeWaitAtStart,
        loadavg: loadavg(),
      };
    };

    process.stderr.write(
      `${vus} VUs, ${rounds} rounds of ${seconds}s (after a warm-up round), load generators${loadCpus ? ` on CPU ${loadCpus}` : ""}, registry${serverCpus ? ` on CPU ${serverCpus}` : ""}\n`,
    );
    for (const e of engines) await once(e, -1);
    for (let r = 0; r < rounds; r++) {
      // Every connection leaves a TIME_WAIT socket behind for a minute, and crowded source ports
      // slow the next connects: alternate which engine goes first.
      const order = r % 2 === 0 ? engines : [...engines].reverse();
      for (const e of order) {
        const run = await once(e, r);
        e.runs.push(run);
        process.stderr.write(
          `  round ${r + 1} ${e.label}: ${fmt(run.requestsPerSecond)}/s (${fmt(run.ok)} of ${fmt(run.requests)} answered 200), load ${run.loadavg[0]}\n`,
        );
      }
    }

    const bestOf = (e: Engine) => best(e.runs, (r) => r.requestsPerSecond);
    const [native, k6Same] = engines as [Engine, Engine, Engine];
    const ratio = round(bestOf(native).requestsPerSecond / bestOf(k6Same).requestsPerSecond, 2);
    const allOk = engines.every((e) => e.runs.every((r) => r.ok === r.requests));
    const result = {
      benchmark: "engine-vs-k6",
      description:
        "request rate generated by the native live engine's transport vs k6, same requests (manifest GET with a bearer token, a connection per request, a source address per VU), same VUs and time, against the same fake registry",
      command: `npm run bench:engines -- ${process.argv.slice(2).join(" ")}`.trim(),
      ...info,
      loadavgAtEnd: loadavg(),
      setup: {
        url: url.replace(/:\d+\//, ":PORT/"),
        vus,
        seconds,
        rounds,
        k6: k6Version,
        cpus: { registry: serverCpus ?? "any", loadGenerators: loadCpus ?? "any" },
        compared:
          "the live engine's HttpTransport (what `pullstorm run` sends requests through) driven at full speed by bench/lib/native-load.ts, vs bench/lib/k6-manifests.js; not a scenario replay (a scenario is paced by its clock, so it measures the scenario, not the engine)",
      },
      results: engines.map((e) => ({
        engine: e.key,
        label: e.label,
        bestRequestsPerSecond: bestOf(e).requestsPerSecond,
        runs: e.runs,
      })),
      allAnswered200: allOk,
      ratio,
      target: { target: TARGET, actual: ratio, pass: ratio >= TARGET },
    };
    const file = await writeFormattedResult(flags.out, result);
    process.stdout.write(
      `\n${table(
        ["engine", "best req/s", "registry CPU s", "runs req/s"],
        engines.map((e) => [
          e.label,
          bestOf(e).requestsPerSecond,
          bestOf(e).serverCpuSeconds,
          e.runs.map((r) => fmt(r.requestsPerSecond)).join(" / "),
        ]),
      )}\n\n${table(
        ["ratio", "target", "actual", ""],
        [["native / k6 (same requests)", `>= ${TARGET}`, ratio, verdict(ratio >= TARGET)]],
      )}\n\n${allOk ? "every request answered 200" : "NOT every request answered 200"}; load average at the end ${loadavg().join(" ")}; wrote ${file}\n`,
    );
  } finally {
    await server?.stop();
    tmp.cleanup();
  }
}

function timeWait(): number {
  try {
    return Number(/\btw (\d+)/.exec(readFileSync("/proc/net/sockstat", "utf8"))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

await main();
