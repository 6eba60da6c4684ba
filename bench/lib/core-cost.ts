/**
 * CPU time of the registry core per manifest GET, in-process (no sockets, no
 * HTTP): `Registry.handle` with the benchmark's token check and quota
 * counting, as the Fastify adapter calls it. Steadier than a throughput run
 * on a busy machine (one process's CPU time), so it is what the notes on
 * changes quote; `--root DIR` measures another checkout (before/after).
 *
 *   node bench/lib/core-cost.ts [--root DIR] [--requests 200000] [--rounds 5]
 *
 * Prints microseconds of CPU per request for each round and the best.
 */
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { ROOT } from "./servers.ts";

const { values: flags } = parseArgs({
  options: {
    root: { type: "string", default: ROOT },
    requests: { type: "string", default: "200000" },
    rounds: { type: "string", default: "5" },
  },
});

interface Core {
  handle(
    req: { method: string; path: string; query: URLSearchParams; headers: Record<string, string> },
    client: { ip: string },
  ): Promise<{ response: { status: number; body?: unknown } }>;
}

const root = resolve(flags.root);
const { createRegistry } = (await import(join(root, "fake-registry/index.ts"))) as {
  createRegistry(options: Record<string, unknown>): Core;
};
const registry = createRegistry({
  accounts: [{ name: "bench", password: "bench", plan: "pro" }],
  policyFile: join(ROOT, "bench/fixtures/policy-unreached.yaml"),
  tokenLifetime: 86400,
});
const client = { ip: "127.0.0.1" };
const issued = await registry.handle(
  {
    method: "GET",
    path: "/token",
    query: new URLSearchParams(
      "service=registry.pullstorm.test&scope=repository:library/nginx:pull",
    ),
    headers: { authorization: `Basic ${Buffer.from("bench:bench").toString("base64")}` },
  },
  client,
);
const token = (JSON.parse(String(issued.response.body)) as { token: string }).token;
const authorization = `Bearer ${token}`;
const accept =
  "application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json";

async function one(): Promise<void> {
  // Fresh strings every time, as the HTTP parser hands them over.
  const headers = {
    host: "127.0.0.1:5000",
    "user-agent": "bench",
    authorization: ` ${authorization}`.slice(1),
    accept: ` ${accept}`.slice(1),
  };
  const answer = await registry.handle(
    {
      method: "GET",
      path: "/v2/library/nginx/manifests/1.25",
      query: new URLSearchParams(""),
      headers,
    },
    client,
  );
  if (answer.response.status !== 200) throw new Error(`answered ${answer.response.status}`);
}

const n = Number(flags.requests);
for (let i = 0; i < 20_000; i++) await one();
const rounds: number[] = [];
for (let r = 0; r < Number(flags.rounds); r++) {
  const before = process.cpuUsage();
  for (let i = 0; i < n; i++) await one();
  const used = process.cpuUsage(before);
  rounds.push((used.user + used.system) / n);
}
process.stdout.write(
  `${JSON.stringify({ root, microsPerRequest: rounds.map((r) => Math.round(r * 100) / 100), best: Math.round(Math.min(...rounds) * 100) / 100 })}\n`,
);
