/**
 * Manifest GET throughput, side by side in one run: the fake registry (token
 * check and quota counting on), CNCF distribution serving the same manifest,
 * and a bare node:http server returning the same bytes and headers. One load
 * generator (wrk) with the same threads, connections and duration for each,
 * rounds interleaved so drifting load on a shared machine hits all three.
 *
 *   npm run bench:registry [-- --seconds 5 --rounds 3 --connections 32]
 *
 * Writes bench/results/registry-throughput.json and prints a table. See
 * docs/benchmarks.md for what the numbers mean and what limits them.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadavg, runInfo } from "./lib/env.ts";
import {
  fetchBytes,
  fetchToken,
  identityStats,
  MANIFEST_ACCEPT,
  quotaUsed,
  splitImage,
} from "./lib/registry-client.ts";
import { best, fmt, table, verdict, writeFormattedResult } from "./lib/report.ts";
import {
  BENCH_CREDENTIALS,
  BENCH_REGISTRY_FLAGS,
  BENCH_USER,
  cleanUp,
  type Contender as LoadedServer,
  loadFlags,
  loadOf,
  loadSetup,
  runRounds,
  startBenchRegistry,
  wrkFor,
} from "./lib/rounds.ts";
import {
  copyImage,
  distributionVersion,
  have,
  type Server,
  startBareServer,
  startDistribution,
  tempDir,
} from "./lib/servers.ts";
import { round, type WrkResult } from "./lib/wrk.ts";

const TARGETS = { vsDistribution: 10, vsBare: 0.6 };

const { values: flags } = parseArgs({
  options: {
    ...loadFlags({ seconds: "5", connections: "32", threads: "1", serverCpus: "1", wrkCpus: "0" }),
    image: { type: "string", default: "library/nginx:1.25" },
    "no-distribution": { type: "boolean", default: false },
    "log-level": { type: "string", default: "warn" },
    out: { type: "string", default: "registry-throughput" },
    /** Also measure the fake registry of another checkout (e.g. `git archive` of an older commit). */
    before: { type: "string", default: "" },
  },
});

const load = loadOf(flags);
const { rounds, seconds, connections, threads, serverCpus, wrkCpus } = load;

interface Contender
  extends LoadedServer<"fake" | "fake-before" | "distribution" | "distribution-all-cpus" | "bare"> {
  /** Its own Authorization header (another fake registry issues its own tokens). */
  authorization?: string;
  /** Fake registry only: requests its stats counted for the account, and pull quota used, per run. */
  counted?: Array<{ requests: number; quotaUsed: number }>;
}

async function main(): Promise<void> {
  if (!(await have("wrk"))) {
    process.stderr.write("wrk is not installed (apt-get install wrk)\n");
    process.exit(2);
  }
  const withDistribution =
    !flags["no-distribution"] && (await have("docker-registry")) && (await have("skopeo"));
  const info = await runInfo();
  const tmp = tempDir("pullstorm-bench-");
  const servers: Server[] = [];
  try {
    const { name, reference } = splitImage(flags.image);
    const fake = await startBenchRegistry(load, { logLevel: flags["log-level"] });
    servers.push(fake);
    const token = await fetchToken(fake.url, name, BENCH_CREDENTIALS);
    const headers = { authorization: `Bearer ${token}`, accept: MANIFEST_ACCEPT };
    const path = `/v2/${name}/manifests/${reference}`;
    const reference200 = await fetchBytes(`${fake.url}${path}`, headers);
    if (reference200.status !== 200 || !reference200.headers["ratelimit-remaining"])
      throw new Error(
        `fake registry answered ${reference200.status} without RateLimit headers: ${reference200.body}`,
      );

    const contenders: Contender[] = [
      { key: "fake", label: "fake registry", server: fake, url: `${fake.url}${path}`, runs: [] },
    ];
    const checks: Record<string, string> = {
      fake: `${reference200.status} ${reference200.headers["content-type"]} ${reference200.body.length} B ${reference200.sha256}`,
    };

    let distVersion: string | undefined;
    if (withDistribution) {
      const dist = await startDistribution({
        dir: join(tmp.dir, "distribution"),
        ...(serverCpus ? { cpus: serverCpus } : {}),
      });
      servers.push(dist);
      distVersion = await distributionVersion();
      await copyImage({
        from: fake.url,
        to: dist.url,
        image: flags.image,
        credentials: BENCH_CREDENTIALS,
      });
      const got = await fetchBytes(`${dist.url}${path}`, headers);
      if (got.status !== 200 || got.sha256 !== reference200.sha256)
        throw new Error(
          `distribution does not serve the same manifest: ${got.status} ${got.sha256} vs ${reference200.sha256}`,
        );
      checks.distribution = `${got.status} ${got.headers["content-type"]} ${got.body.length} B ${got.sha256}`;
      contenders.push({
        key: "distribution",
        label: `distribution ${distVersion}${serverCpus ? ` (CPU ${serverCpus})` : ""}`,
        server: dist,
        url: `${dist.url}${path}`,
        runs: [],
      });
      if (serverCpus) {
        // Go uses every core it is given: also measure it unpinned, on the same storage, and
        // compare against whichever of the two serves more.
        const distAll = await startDistribution({ dir: join(tmp.dir, "distribution") });
        servers.push(distAll);
        const again = await fetchBytes(`${distAll.url}${path}`, headers);
        if (again.sha256 !== reference200.sha256) throw new Error("unpinned distribution differs");
        contenders.push({
          key: "distribution-all-cpus",
          label: `distribution ${distVersion} (all CPUs)`,
          server: distAll,
          url: `${distAll.url}${path}`,
          runs: [],
        });
      }
    }

    if (flags.before) {
      // The same flags (the policy file is this checkout's), same account, same secret-less token
      // service: it issues its own token; the manifest must be the same bytes.
      const older = await startBenchRegistry(load, {
        name: "fake-registry (before)",
        root: flags.before,
        logLevel: flags["log-level"],
      });
      servers.push(older);
      const olderToken = await fetchToken(older.url, name, BENCH_CREDENTIALS);
      const got = await fetchBytes(`${older.url}${path}`, {
        ...headers,
        authorization: `Bearer ${olderToken}`,
      });
      if (got.sha256 !== reference200.sha256)
        throw new Error("the older checkout serves other bytes");
      contenders.push({
        key: "fake-before",
        label: `fake registry (${flags.before})`,
        server: older,
        url: `${older.url}${path}`,
        runs: [],
        authorization: `Bearer ${olderToken}`,
      });
    }

    const bodyFile = join(tmp.dir, "manifest.json");
    writeFileSync(bodyFile, reference200.body);
    const sameHeaders = Object.fromEntries(
      Object.entries(reference200.headers).filter(
        ([k]) => !["date", "connection", "keep-alive", "content-length"].includes(k),
      ),
    );
    const bare = await startBareServer({
      bodyFile,
      headers: sameHeaders,
      ...(serverCpus ? { cpus: serverCpus } : {}),
    });
    servers.push(bare);
    const bareGot = await fetchBytes(`${bare.url}${path}`, headers);
    if (bareGot.sha256 !== reference200.sha256) throw new Error("bare server bytes differ");
    checks.bare = `${bareGot.status} ${bareGot.headers["content-type"]} ${bareGot.body.length} B ${bareGot.sha256}`;
    contenders.push({
      key: "bare",
      label: "bare node:http",
      server: bare,
      url: `${bare.url}${path}`,
      runs: [],
    });

    const wrk = wrkFor<Contender>(load, (c) =>
      c.authorization ? { ...headers, authorization: c.authorization } : headers,
    );
    process.stderr.write(
      `warm-up ${flags.warmup}s each, then ${rounds} rounds of ${seconds}s: wrk -t${threads} -c${connections}${wrkCpus ? ` on CPU ${wrkCpus}` : ""}, servers${serverCpus ? ` on CPU ${serverCpus}` : ""}\n`,
    );
    await runRounds(
      contenders,
      load,
      wrk,
      (_, run) =>
        `${fmt(run.requestsPerSecond)}/s, ${run.serverCpuMicrosPerRequest ?? "?"} us CPU/request, non-2xx ${run.non2xx}, load ${run.loadavg[0]}`,
      async (c, secs) => {
        if (c.key !== "fake") return wrk(c, secs);
        const before = await identityStats(fake.url, BENCH_USER);
        const run = await wrk(c, secs);
        const after = await identityStats(fake.url, BENCH_USER);
        c.counted ??= [];
        c.counted.push({
          // The stats requests themselves are anonymous (no token): not counted for the account.
          requests: after.total - before.total,
          quotaUsed: quotaUsed(after, "pulls") - quotaUsed(before, "pulls"),
        });
        return run;
      },
    );

    const bestOf = (c: Contender) => best(c.runs, (r) => r.requestsPerSecond);
    const fakeBest = bestOf(contenders[0] as Contender);
    const byKey = (k: Contender["key"]) => contenders.find((c) => c.key === k);
    const distCs = [byKey("distribution"), byKey("distribution-all-cpus")].filter(
      (c): c is Contender => c !== undefined,
    );
    const distC = distCs.length > 0 ? best(distCs, (c) => bestOf(c).requestsPerSecond) : undefined;
    const bareC = byKey("bare") as Contender;
    const distBest = distC ? bestOf(distC) : undefined;
    const bareBest = bestOf(bareC);
    const cheapestCpu = (c: Contender) =>
      Math.min(...c.runs.map((r) => r.serverCpuMicrosPerRequest ?? Number.POSITIVE_INFINITY));
    const ratios = {
      vsDistribution: distBest
        ? round(fakeBest.requestsPerSecond / distBest.requestsPerSecond, 2)
        : undefined,
      vsBare: round(fakeBest.requestsPerSecond / bareBest.requestsPerSecond, 2),
      /** The same comparisons by server CPU time per request (less sensitive to a busy machine). */
      cpuVsDistribution: distC
        ? round(cheapestCpu(distC) / cheapestCpu(contenders[0] as Contender), 2)
        : undefined,
      cpuVsBare: round(cheapestCpu(bareC) / cheapestCpu(contenders[0] as Contender), 2),
      /** With --before: this checkout over the other one. */
      vsBefore: byKey("fake-before")
        ? round(
            fakeBest.requestsPerSecond /
              bestOf(byKey("fake-before") as Contender).requestsPerSecond,
            2,
          )
        : undefined,
    };
    const fakeC = contenders[0] as Contender;
    const allCounted = (fakeC.counted ?? []).every((c, i) => {
      const run = fakeC.runs[i] as WrkResult;
      // wrk stops with requests in flight: the server may count up to `connections` more than wrk saw complete.
      return c.quotaUsed >= run.requests && c.quotaUsed <= run.requests + connections;
    });
    const result = {
      benchmark: "registry-throughput",
      description:
        "manifest GET throughput: fake registry (token check + quota counting) vs CNCF distribution vs bare node:http, same wrk load",
      command: `npm run bench:registry -- ${process.argv.slice(2).join(" ")}`.trim(),
      ...info,
      loadavgAtEnd: loadavg(),
      setup: {
        image: flags.image,
        accept: MANIFEST_ACCEPT,
        manifest: checks,
        ...loadSetup(load),
        fakeRegistry: {
          flags: `${BENCH_REGISTRY_FLAGS} --log-level ${flags["log-level"]}`,
          quotaCounting:
            "dockerhub-2020 rules with limits of 1e9: abuse rule (fixed window) and pulls (rolling 24 h) count every request",
        },
        distribution: distVersion
          ? {
              version: distVersion,
              mode: "plain registry (no proxy, no auth), filesystem storage, image pushed with skopeo copy --all --preserve-digests, access log off, log level warn",
              comparedWith: distC?.key,
            }
          : { skipped: "docker-registry or skopeo not installed, or --no-distribution" },
      },
      results: contenders.map((c) => ({
        server: c.key,
        label: c.label,
        bestRequestsPerSecond: round(bestOf(c).requestsPerSecond),
        bestCpuMicrosPerRequest: cheapestCpu(c),
        runs: c.runs,
        ...(c.counted ? { counted: c.counted } : {}),
      })),
      quotaCountingVerified: allCounted,
      ratios,
      targets: {
        vsDistribution: {
          target: TARGETS.vsDistribution,
          actual: ratios.vsDistribution,
          pass:
            ratios.vsDistribution !== undefined && ratios.vsDistribution >= TARGETS.vsDistribution,
        },
        vsBare: {
          target: TARGETS.vsBare,
          actual: ratios.vsBare,
          pass: ratios.vsBare >= TARGETS.vsBare,
        },
      },
    };
    const file = await writeFormattedResult(flags.out, result);

    const rows = contenders.map((c) => {
      const b = bestOf(c);
      return [
        c.label,
        round(b.requestsPerSecond),
        cheapestCpu(c),
        b.latencyMs.p50 ?? "",
        b.latencyMs.p99 ?? "",
        c.runs.map((r) => fmt(r.requestsPerSecond)).join(" / "),
      ];
    });
    process.stdout.write(
      `\n${table(["server", "best req/s", "CPU us/req", "p50 ms", "p99 ms", "runs req/s"], rows)}\n\n`,
    );
    process.stdout.write(
      `${table(
        ["ratio", "target", "actual", "by CPU/req", ""],
        [
          [
            "fake / distribution",
            `>= ${TARGETS.vsDistribution}`,
            ratios.vsDistribution ?? "n/a",
            ratios.cpuVsDistribution ?? "n/a",
            distBest ? verdict(result.targets.vsDistribution.pass) : "not measured",
          ],
          [
            "fake / bare node:http",
            `>= ${TARGETS.vsBare}`,
            ratios.vsBare,
            ratios.cpuVsBare,
            verdict(result.targets.vsBare.pass),
          ],
          ...(ratios.vsBefore !== undefined
            ? [
                [
                  "fake / fake before",
                  "",
                  ratios.vsBefore,
                  round(
                    cheapestCpu(byKey("fake-before") as Contender) /
                      cheapestCpu(contenders[0] as Contender),
                    2,
                  ),
                  "",
                ],
              ]
            : []),
        ],
      )}\n`,
    );
    process.stdout.write(
      `\nquota counting ${allCounted ? "verified" : "NOT verified"}: the account's pull quota moved by every request served (${(fakeC.counted ?? []).map((c) => fmt(c.quotaUsed)).join(", ")})\nload average at the end ${loadavg().join(" ")}; wrote ${file}\n`,
    );
  } finally {
    await cleanUp(servers, tmp);
  }
}

await main();
