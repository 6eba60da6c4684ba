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
import * as bench from "./lib/rounds.ts";
import {
  copyImage,
  distributionVersion,
  have,
  type Server,
  startDistribution,
  tempDir,
} from "./lib/servers.ts";
import { round } from "./lib/wrk.ts";

const TARGET = 1;
const IMAGE = "bench/big-layer";

const { values: flags } = parseArgs({
  options: {
    size: { type: "string", default: "100MB" },
    // Unpinned by default: pinned (--server-cpus 1 --wrk-cpus 0) wrk's one core is what limits
    // both servers (docs/benchmarks.md); sharing both cores, the server's cost per byte shows.
    ...bench.loadFlags({
      seconds: "10",
      connections: "4",
      threads: "2",
      serverCpus: "",
      wrkCpus: "",
    }),
    out: { type: "string", default: "blob-throughput" },
  },
});

const load = bench.loadOf(flags);
const { rounds, seconds, connections, threads, serverCpus } = load;

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
    const fake = await bench.startBenchRegistry(load, { args: ["--catalog", catalog] });
    servers.push(fake);
    const token = await fetchToken(fake.url, IMAGE, bench.BENCH_CREDENTIALS);
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
      credentials: bench.BENCH_CREDENTIALS,
    });
    const distBlob = await fetchBytes(`${dist.url}${blobPath}`, {});
    if (distBlob.status !== 200 || distBlob.sha256 !== layer.digest)
      throw new Error(`distribution blob: ${distBlob.status} ${distBlob.sha256}`);
    const contenders: bench.Contender[] = [
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

    process.stderr.write(
      `blob ${layer.digest} (${fmt(layer.size)} bytes); warm-up ${flags.warmup}s each, then ${rounds} rounds of ${seconds}s: wrk -t${threads} -c${connections}\n`,
    );
    await bench.runRounds(
      contenders,
      load,
      bench.wrkFor(load, () => auth, { timeoutSeconds: 60 }),
      (_, run) =>
        `${fmt(run.bytesPerSecond / MIB)} MiB/s (${run.requests} blobs), non-2xx ${run.non2xx}, load ${run.loadavg[0]}`,
    );
    const fakeRss = memoryMiB(fake.pid);

    const bestOf = (c: bench.Contender) => best(c.runs, (r) => r.bytesPerSecond);
    const fakeC = contenders[0] as bench.Contender;
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
        ...bench.loadSetup(load),
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
    await bench.cleanUp(servers, tmp);
  }
}

await main();
