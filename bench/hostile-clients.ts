/**
 * A flood of failed logins from distinct client addresses (issue 14): 40,000
 * token requests with a wrong password, each from its own 127.x.y.z address,
 * against `pullstorm registry serve` in a child process. Per-client state
 * (quota counters, lockouts, stats, metric labels) must stay bounded: the
 * registry's RSS stays under 300 MiB and it keeps answering; `/_pullstorm/stats`
 * stays small and fast (a page of identities, not all of them).
 *
 *   node bench/hostile-clients.ts [--clients 40000] [--concurrency 32] [--args "--max-clients 10000"]
 *
 * Runs it twice: as `registry serve` starts by default, and with
 * NODE_OPTIONS=--max-semi-space-size=16 (Node 24 lets V8's young generation
 * grow to 134 MB under any sustained load, one client or 40,000: that, not
 * the clients' records, is most of the default's peak). Writes
 * bench/results/hostile-clients.json and prints a table per configuration.
 * Only loopback addresses are used; the flood is bounded in count and in time
 * (--max-seconds per configuration).
 */
import { request } from "node:http";
import { parseArgs } from "node:util";
import { loadavg, memoryMiB, runInfo } from "./lib/env.ts";
import { fmt, table, verdict, writeFormattedResult } from "./lib/report.ts";
import { startFakeRegistry } from "./lib/servers.ts";

const TARGET_MIB = 300;

const { values: flags } = parseArgs({
  options: {
    clients: { type: "string", default: "40000" },
    concurrency: { type: "string", default: "32" },
    "max-seconds": { type: "string", default: "600" },
    /** Seconds of quiet after the flood, sampled every 5 s. */
    settle: { type: "string", default: "30" },
    /** Extra `registry serve` flags, space-separated. */
    args: { type: "string", default: "" },
    out: { type: "string", default: "hostile-clients" },
  },
});

const clients = Number(flags.clients);
const concurrency = Number(flags.concurrency);
const settleSeconds = Number(flags.settle);
const maxMs = Number(flags["max-seconds"]) * 1000;

/** The i-th client's own address: 127.1.0.0 upwards (never 127.0.0.1, where the checks come from). */
function address(i: number): string {
  const n = 0x010000 + i;
  return `127.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

function get(
  url: string,
  headers: Record<string, string>,
  localAddress?: string,
): Promise<{ status: number; bytes: number; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = request(
      url,
      { headers, agent: false, ...(localAddress ? { localAddress } : {}) },
      (res) => {
        let bytes = 0;
        res.on("data", (c: Buffer) => {
          bytes += c.length;
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, bytes, ms: performance.now() - t0 }),
        );
        res.on("error", () => resolve({ status: 0, bytes, ms: performance.now() - t0 }));
      },
    );
    req.setTimeout(10_000, () => req.destroy());
    req.on("error", () => resolve({ status: 0, bytes: 0, ms: performance.now() - t0 }));
    req.end();
  });
}

interface Point {
  sent: number;
  rssMiB: number;
  peakMiB: number;
  seconds: number;
  /** A check from 127.0.0.1 during the flood: status and ms. */
  check: { status: number; ms: number };
}

interface Outcome {
  config: string;
  env: Record<string, string>;
  sent: number;
  statuses: Record<string, number>;
  points: Point[];
  peakMiB: number;
  stats: { status: number; bytes: number; ms: number };
  answersAfter: { status: number; ms: number };
  evictions: string[];
  passed: boolean;
}

async function flood(config: string, env: Record<string, string>): Promise<Outcome> {
  const server = await startFakeRegistry({
    args: ["--log-level", "warn", ...flags.args.split(" ").filter(Boolean)],
    env,
  });
  const deadline = performance.now() + maxMs;
  const points: Point[] = [];
  const statuses = new Map<number, number>();
  const started = performance.now();
  let sent = 0;
  try {
    const tokenUrl = `${server.url}/token?service=registry.pullstorm.test&scope=repository:library/nginx:pull`;
    const sample = async () => {
      const check = await get(`${server.url}/v2/`, {});
      const mem = memoryMiB(server.pid);
      points.push({
        sent,
        rssMiB: Math.round(mem.rss),
        peakMiB: Math.round(mem.peak),
        seconds: Math.round((performance.now() - started) / 100) / 10,
        check: { status: check.status, ms: Math.round(check.ms) },
      });
    };
    await sample();
    let next = 0;
    const every = Math.max(1, Math.floor(clients / 10));
    const worker = async () => {
      while (next < clients && performance.now() < deadline) {
        const i = next++;
        const creds = Buffer.from(`flood-${i}:wrong`).toString("base64");
        const res = await get(tokenUrl, { authorization: `Basic ${creds}` }, address(i));
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        sent++;
        if (sent % every === 0) await sample();
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    await sample();
    // Then quiet, sampled every 5 s: what the registry holds once the flood has passed.
    for (let s = 0; s < settleSeconds; s += 5) {
      await new Promise((r) => setTimeout(r, 5000));
      await sample();
    }
    const stats = await get(`${server.url}/_pullstorm/stats`, {});
    const after = await get(`${server.url}/v2/`, {});
    const peak = Math.max(...points.map((p) => p.peakMiB));
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const evictions = metrics
      .split("\n")
      .filter((l) => l.startsWith("pullstorm_state_evictions_total"));
    const outcome: Outcome = {
      config,
      env,
      sent,
      statuses: Object.fromEntries(statuses),
      points,
      peakMiB: peak,
      stats: { status: stats.status, bytes: stats.bytes, ms: Math.round(stats.ms) },
      answersAfter: { status: after.status, ms: Math.round(after.ms) },
      evictions,
      passed: peak < TARGET_MIB && after.status === 401 && sent === clients,
    };
    process.stdout.write(
      `${config} ${JSON.stringify(env)}\n${table(
        ["failed logins sent", "RSS MiB", "peak MiB", "s", "GET /v2/ during"],
        points.map((p) => [
          p.sent,
          p.rssMiB,
          p.peakMiB,
          p.seconds,
          `${p.check.status} ${p.check.ms} ms`,
        ]),
      )}\nstatuses ${JSON.stringify(outcome.statuses)}; /_pullstorm/stats ${fmt(stats.bytes)} bytes in ${fmt(stats.ms)} ms; GET /v2/ after: ${after.status} in ${fmt(after.ms)} ms\n${evictions.join("\n")}\npeak ${peak} MiB (target < ${TARGET_MIB}): ${verdict(outcome.passed)}\n\n`,
    );
    return outcome;
  } finally {
    await server.stop();
  }
}

const configurations = [
  await flood("default", {}),
  await flood("semi-space-16", { NODE_OPTIONS: "--max-semi-space-size=16" }),
];
const file = await writeFormattedResult(flags.out, {
  benchmark: "hostile-clients",
  ...(await runInfo()),
  loadavg: loadavg(),
  clients,
  concurrency,
  args: flags.args,
  targetMiB: TARGET_MIB,
  configurations,
});
process.stdout.write(`${file}\n`);
