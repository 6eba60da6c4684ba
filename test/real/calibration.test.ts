// Calibration: the simulator's mirror model (distribution-2.8) and client models
// (containerd, cri-o = containers/image) held against the real programs. Each
// scripted scenario runs twice, once as fake registry <- docker-registry 2.8.2 <-
// ctr / skopeo / podman pull and once as fake registry <- MirrorModel <- PullClient, and what
// reached the fake registry is compared per step: who asked (the mirror or a node
// falling back to the registry), kind, method, tag or digest, status, and which
// pulls succeeded. Equal where the real programs are deterministic; for concurrent
// pulls (racy) the model must lie within what the real runs showed.
// docs/calibration.md has the table; PULLSTORM_CALIBRATION_OUT=FILE writes it afresh.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ClientName,
  comparable,
  markdownRows,
  outsideRange,
  type RunResult,
  runModel,
  runReal,
  type Scenario,
} from "../helpers/calibration.ts";
import { type PrivateContainerd, startPrivateContainerd } from "../helpers/containerd.ts";
import { checkTools } from "../helpers/tools.ts";

const NGINX = "library/nginx:1.25";
const ALPINE = "library/alpine:3.20";

/** Docker Hub's refusal, on a rule of our own. */
const REFUSAL = {
  type: "oci",
  status: 429,
  code: "TOOMANYREQUESTS",
  anonymous: "You have reached your pull rate limit.",
  account: "You have reached your pull rate limit as '{user}'.",
};

const SCENARIOS: Scenario[] = [
  {
    name: "cold",
    title: "cold pull by tag through a cold mirror",
    steps: [{ pull: NGINX, nodes: ["a"] }],
  },
  {
    name: "warm-tag",
    title: "warm pull by tag: another node, then the same node again",
    steps: [
      { pull: NGINX, nodes: ["a"] },
      { pull: NGINX, nodes: ["b"] },
      { pull: NGINX, nodes: ["a"] },
    ],
  },
  {
    name: "digest",
    title: "pull by digest: warm (the index is cached), then cold",
    steps: [
      { pull: NGINX, nodes: ["a"] },
      { pull: NGINX, nodes: ["b"], byDigest: true },
      { pull: ALPINE, nodes: ["c"], byDigest: true },
    ],
  },
  {
    name: "concurrent",
    title: "three nodes pull one image at once through a cold mirror, the upstream 400 ms away",
    // 400 ms, not 150: the three clients must each ask while the first request still waits
    // upstream. With 150 ms, on a busy machine (a second `npm test` beside this one) ctr's
    // processes started far enough apart that some blob requests came late: real ctr counted
    // 12, 12, 14, 16, 16, 16 blob GETs in six runs. With 400 ms under the same load: 16 in
    // six runs of six, as on a quiet machine (docs/calibration.md).
    latencyMs: 400,
    steps: [{ pull: ALPINE, nodes: ["a", "b", "c"] }],
    repeat: 4,
  },
  {
    name: "outage-cold",
    title: "upstream down (load balancer 503) before the mirror ever reached it",
    steps: [
      { upstream: "outage" },
      { pull: NGINX, nodes: ["a"] },
      { pull: ALPINE, nodes: ["b"], byDigest: true },
    ],
  },
  {
    name: "outage-warm",
    title: "upstream down (503) after a pull: the cached tag is served, a cold one fails",
    steps: [
      { pull: NGINX, nodes: ["a"] },
      { upstream: "outage" },
      { pull: NGINX, nodes: ["b"] },
      { pull: ALPINE, nodes: ["c"] },
    ],
  },
  {
    name: "gone",
    title: "upstream stopped (connection refused) after a pull",
    steps: [
      { pull: NGINX, nodes: ["a"] },
      { upstream: "gone" },
      { pull: NGINX, nodes: ["b"] },
      { pull: ALPINE, nodes: ["c"] },
    ],
  },
  {
    name: "quota",
    title:
      "upstream throttles the mirror's address: 1 pull per 6 h (an index GET and its platform manifest GET), HEADs free (Docker Hub)",
    policy: { limits: { pulls: { anonymous: { limit: 1, window: "6h" } } } },
    steps: [
      { pull: NGINX, nodes: ["a"] },
      { pull: ALPINE, nodes: ["b"] },
      { pull: NGINX, nodes: ["c"] },
    ],
  },
  {
    name: "quota-heads",
    title: "upstream throttles the mirror's address, HEADs counted too (3 manifest requests)",
    policy: {
      rules: [
        {
          name: "pulls",
          counts: [{ kind: "manifest", method: "*", cost: 1 }],
          limits: { anonymous: { limit: 3, window: "6h" } },
          headers: true,
          refusal: REFUSAL,
        },
      ],
    },
    steps: [
      { pull: NGINX, nodes: ["a"] },
      { pull: NGINX, nodes: ["b"] },
      { pull: ALPINE, nodes: ["c"] },
    ],
  },
  {
    name: "no-auth",
    title: "an upstream without token auth (no challenge ever learned)",
    auth: false,
    steps: [
      { pull: NGINX, nodes: ["a"] },
      { pull: NGINX, nodes: ["b"] },
    ],
    // Racy in the real program: ctr fetches layers concurrently and, with no challenge ever
    // learned, distribution pings before each upstream step under its ping lock; whether a
    // waiter finds the ping done decides 11 or 12 pings (both seen with ctr on a quiet machine).
    repeat: 4,
  },
  {
    name: "direct",
    title: "no mirror: the client models alone (cold, re-pull, by digest, outage)",
    mirror: false,
    steps: [
      { pull: NGINX, nodes: ["a"] },
      { pull: NGINX, nodes: ["a"] },
      { pull: ALPINE, nodes: ["b"], byDigest: true },
      { upstream: "outage" },
      { pull: NGINX, nodes: ["c"] },
    ],
  },
  {
    name: "direct-quota",
    title: "no mirror, 2 manifest GETs per address, Retry-After 1 s: how each client retries a 429",
    mirror: false,
    policy: {
      rules: [
        {
          name: "pulls",
          counts: [
            { kind: "manifest", method: "GET", cost: 1 },
            { kind: "manifest", method: "HEAD", cost: 0 },
          ],
          limits: { anonymous: { limit: 2, window: "6h" } },
          headers: true,
          retryAfter: true,
          retryAfterSeconds: 1,
          refusal: REFUSAL,
        },
      ],
    },
    steps: [
      { pull: ALPINE, nodes: ["a"] },
      { pull: NGINX, nodes: ["b"] },
    ],
  },
];

const CLIENTS: ClientName[] = ["ctr", "skopeo", "podman"];
const TOOLS = {
  ctr: checkTools("docker-registry", "containerd", "ctr"),
  skopeo: checkTools("docker-registry", "skopeo"),
  podman: checkTools("docker-registry", "podman"),
};

describe("the models are deterministic", () => {
  it("every scenario's model run counts the same twice", async () => {
    for (const scenario of SCENARIOS)
      for (const client of CLIENTS) {
        const [first, second] = [
          await runModel(scenario, client),
          await runModel(scenario, client),
        ];
        expect(comparable(second), `${scenario.name} ${client}`).toEqual(comparable(first));
      }
  });
});

/**
 * Real runs, one client at a time: the ctr runs share one containerd, and one run
 * at a time keeps each settling on an idle machine. The ctr lane and the skopeo lane
 * run side by side (each run has its own fake registry and docker-registry).
 */
const lanes: Record<ClientName, Promise<unknown>> = {
  ctr: Promise.resolve(),
  skopeo: Promise.resolve(),
  podman: Promise.resolve(),
};
function inLane<T>(client: ClientName, run: () => Promise<T>): Promise<T> {
  const result = lanes[client].then(run);
  lanes[client] = result.catch(() => undefined);
  return result;
}

describe.concurrent("calibration: real docker-registry 2.8 + ctr / skopeo / podman vs MirrorModel + PullClient", () => {
  let work: string;
  let containerd: PrivateContainerd | undefined;
  /** The table's rows per test, in the order of the tests (they finish in another). */
  const rows: string[][] = [];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "pullstorm-calibration-"));
    if (TOOLS.ctr.available) containerd = await startPrivateContainerd(join(work, "containerd"));
  });

  afterAll(async () => {
    await containerd?.daemon.stop("SIGTERM");
    if (work) rmSync(work, { recursive: true, force: true });
    const out = process.env.PULLSTORM_CALIBRATION_OUT;
    if (out && rows.length > 0)
      writeFileSync(
        out,
        [
          "| scenario | client | step | real (counted at the fake registry) | model | pulls |",
          "|---|---|---|---|---|---|",
          ...rows.flat(),
          "",
        ].join("\n"),
      );
  });

  for (const [i, [scenario, client]] of SCENARIOS.flatMap((scenario) =>
    CLIENTS.map((client) => [scenario, client] as const),
  ).entries()) {
    it(`${scenario.name} with ${client}: ${scenario.title}`, async (ctx) => {
      const tools = TOOLS[client];
      if (!tools.available) return ctx.skip(tools.reason);
      const { expect } = ctx;
      const env = { work, ...(containerd ? { containerd } : {}) };
      const model = await runModel(scenario, client);
      const real = await inLane(client, async () => {
        const runs: RunResult[] = [await runReal(scenario, client, env)];
        // Racy: real runs until the model lies within their range (at least 2, at most `repeat`).
        while (scenario.repeat && runs.length < scenario.repeat) {
          if (runs.length >= 2 && outsideRange(model, runs).length === 0) break;
          runs.push(await runReal(scenario, client, env));
        }
        return runs;
      });
      rows[i] = markdownRows(scenario, client, real, model);
      if (!scenario.repeat) {
        const errors = real[0]?.steps.flatMap((s) => Object.values(s.errors ?? {})) ?? [];
        expect(comparable(model), errors.join("\n")).toEqual(comparable(real[0] as RunResult));
      } else {
        expect(outsideRange(model, real)).toEqual([]);
      }
    });
  }
});
