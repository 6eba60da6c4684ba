// The k6 runtime's pull client against the native one, without the k6 binary: the
// script runs in Node with stand-ins for the k6 modules (below), both clients pull the
// same images from identical in-process registries, and they must make the same
// requests, get the same answers and report the same pulls. This keeps
// simulator/k6/runtime.js in step with simulator/client/pull-client.ts.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { ManualClock } from "../fake-registry/core/clock.ts";
import { ContentStore } from "../simulator/client/content-store.ts";
import { PullClient } from "../simulator/client/pull-client.ts";
import { type ImageRef, parseReference } from "../vocabulary/oci/reference.ts";
import { RUNTIMES, type RuntimeModel } from "../simulator/client/runtimes.ts";
import type { SimEvent } from "../vocabulary/events.ts";
import { VirtualSim } from "../simulator/engine/sim.ts";
import type { InProcessHandler } from "../simulator/engine/transport.ts";
import { InProcessTransport } from "../simulator/engine/transport.ts";
import type { K6Point } from "../simulator/k6/events.ts";
import { eventsFromPoints } from "../simulator/k6/events.ts";
import { derivePlan, type K6Plan } from "../simulator/k6/plan.ts";
import { renderScript } from "../simulator/k6/script.ts";
import { MirrorModel } from "../simulator/mirror/model.ts";
import { scenarioRegistry } from "../simulator/registry-setup.ts";
import { parseScenario } from "../simulator/scenario/load.ts";
import type { Scenario } from "../simulator/scenario/schema.ts";

// ---------------------------------------------------------------- the runtime in Node
// The script loaded with stand-ins for the k6 modules it imports: its requests go to
// in-process handlers (the registry core, a mirror model), and its samples are collected
// as k6 would write them to --out json.

interface Harness {
  transport: InProcessTransport;
  egress: string;
  localIPs: string | null;
  vu: { idInTest: number; idInInstance: number; metadata: Record<string, string> };
  scenario: { name: string; iterationInTest: number };
  tags: Record<string, string>;
  points: K6Point[];
}

declare global {
  var __pullstormK6: Harness | undefined;
}

const STUBS: Record<string, string> = {
  "k6/encoding": `export default { b64encode: (s) => Buffer.from(s).toString("base64") };`,
  "k6/timers": `export const setTimeout = globalThis.setTimeout;`,
  "k6/execution": `const h = () => globalThis.__pullstormK6;
export default {
  get vu() { const v = h().vu; return { idInTest: v.idInTest, idInInstance: v.idInInstance, metrics: { metadata: v.metadata } }; },
  get scenario() { return h().scenario; },
  get test() { return { options: { localIPs: h().localIPs } }; },
};`,
  "k6/metrics": `class Metric {
  constructor(name) { this.name = name; }
  add(value, tags) {
    const h = globalThis.__pullstormK6;
    h.points.push({ metric: this.name, timeMs: Date.now(), value: Number(value),
      tags: { ...h.tags, ...tags }, metadata: { ...h.vu.metadata } });
  }
}
export class Counter extends Metric {}
export class Trend extends Metric {}
export class Rate extends Metric {}
export class Gauge extends Metric {}`,
  "k6/http": `export default {
  async asyncRequest(method, url, body, params) {
    const h = globalThis.__pullstormK6;
    const u = new URL(url);
    // Tags and metadata as k6 takes them: when the request is made.
    const tags = { ...h.tags, ...params.tags, method };
    const metadata = { ...h.vu.metadata };
    const res = await h.transport.send(
      { host: u.hostname, method, path: u.pathname + u.search, headers: params.headers ?? {} }, h.egress);
    const network = "error" in res;
    h.points.push({ metric: "http_reqs", timeMs: Date.now(), value: 1,
      tags: { ...tags, status: String(res.status) }, metadata });
    const bytes = network ? Buffer.alloc(0) : res.body;
    return {
      status: res.status,
      headers: network ? {} : res.headers,
      body: params.responseType === "none" ? null : params.responseType === "binary"
        ? bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) : bytes.toString(),
      timings: { duration: 0 },
      error: network ? res.message : "",
      error_code: network ? 1000 : 0,
    };
  },
};`,
};

interface LoadedRuntime {
  /** The script's exports: setup, node, ciJob, desktop. */
  exports: Record<string, (data?: unknown) => Promise<void> | unknown>;
  points: K6Point[];
  /** Runs one iteration of a k6 scenario as VU `vu`. */
  iterate(fn: string, scenario: string, iteration: number, vu?: number): Promise<void>;
  close(): void;
}

/** Loads the script for `plan` with its hosts ("registry", "mirror") answered in-process. */
async function loadRuntime(
  plan: K6Plan,
  hosts: Record<string, InProcessHandler>,
  options: { localIPs?: string; egress?: string } = {},
): Promise<LoadedRuntime> {
  const dir = mkdtempSync(join(tmpdir(), "pullstorm-k6-runtime-"));
  let script = renderScript({
    ...plan,
    hosts: { registry: "http://registry", mirror: "http://mirror" },
  });
  for (const [name, source] of Object.entries(STUBS)) {
    const file = join(dir, `${name.replace("/", "-")}.mjs`);
    writeFileSync(file, source);
    script = script.replaceAll(`from "${name}"`, `from "${pathToFileURL(file).href}"`);
  }
  const file = join(dir, "script.mjs");
  writeFileSync(file, script);
  const harness: Harness = {
    transport: new InProcessTransport(hosts),
    egress: options.egress ?? "127.1.0.2",
    localIPs: options.localIPs ?? "127.1.0.2",
    vu: { idInTest: 1, idInInstance: 1, metadata: {} },
    scenario: { name: "", iterationInTest: 0 },
    tags: { design: plan.design },
    points: [],
  };
  globalThis.__pullstormK6 = harness;
  (globalThis as { __ENV?: Record<string, string> }).__ENV = {};
  const exports = (await import(pathToFileURL(file).href)) as LoadedRuntime["exports"];
  return {
    exports,
    points: harness.points,
    async iterate(fn, scenario, iteration, vu = 1) {
      harness.scenario = { name: scenario, iterationInTest: iteration };
      harness.vu = { idInTest: vu, idInInstance: vu, metadata: {} };
      const t0 = Date.now();
      harness.points.push({
        metric: "pullstorm_t0",
        timeMs: t0,
        value: t0,
        tags: { design: plan.design },
        metadata: {},
      });
      await (exports[fn] as (data: unknown) => Promise<void>)({ t0 });
    },
    close() {
      globalThis.__pullstormK6 = undefined;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------- the comparison

/** One CI job pulling two multi-arch images; an anonymous quota of 2 refuses the second pull. */
function scenarioFor(runtime: RuntimeModel["name"], limit: number): Scenario {
  return parseScenario(
    `name: parity
duration: 2h
images:
  - { name: web, ref: "library/nginx:1.25" }
  - { name: cache, ref: "library/redis:7" }
fleet: { ciRunners: 1, ciRuntime: ${runtime}, runtime: ${runtime} }
registry:
  preset: dockerhub-2020
  policy: { limits: { pulls: { anonymous: { limit: ${limit}, window: 6h } } } }
workload:
  - { type: ci-fan-out, at: 0, jobs: 1, images: [web, cache] }
designs:
  - { name: anonymous }
  - { name: account, auth: shared-account }
  - { name: mirror, mirror: { enabled: true, flavour: distribution-2.8 }, egressIps: 1 }
`,
    "parity.yaml",
  );
}

const ACTOR = "job-1";
const EGRESS = "127.1.0.2";

/** The native client's requests and pulls for the job. */
async function native(scenario: Scenario, plan: K6Plan, runtime: RuntimeModel["name"]) {
  const design = scenario.designs.find((d) => d.name === plan.design);
  const registry = scenarioRegistry(scenario, new ManualClock(), plan.seed);
  for (const name of plan.accounts)
    registry.addAccount({ name, password: plan.auth.password, plan: plan.accountPlan });
  const sim = new VirtualSim(plan.seed, scenario.duration);
  const events: SimEvent[] = [];
  const hosts: Record<string, InProcessHandler> = {
    registry,
  };
  if (design?.mirror?.enabled)
    hosts.mirror = new MirrorModel({
      upstream: {
        transport: new InProcessTransport({ registry }, sim),
        host: "registry",
        egressIp: "127.0.0.250",
      },
      flavour: design.mirror.flavour,
      sim,
    });
  const client = new PullClient({
    actor: ACTOR,
    design: plan.design,
    runtime: RUNTIMES[runtime],
    hosts: plan.routes[runtime],
    ...(plan.auth.mode !== "anonymous"
      ? { credentials: { user: "shared", password: plan.auth.password } }
      : {}),
    egressIp: EGRESS,
    transport: new InProcessTransport(hosts, sim),
    sim,
    store: new ContentStore(),
    emit: (e) => events.push(e),
  });
  const job = (async () => {
    for (const image of ["library/nginx:1.25", "library/redis:7"]) {
      const result = await client.pull(parseReference(image) as ImageRef);
      events.push({
        type: "pull",
        t: 0,
        design: plan.design,
        actor: ACTOR,
        identity: client.options.credentials?.user ?? EGRESS,
        image,
        outcome: result.ok ? (result.cached ? "cached" : "ok") : "failed",
        ...(result.ok ? {} : { reason: result.reason, status: result.status, host: result.host }),
        durationSeconds: 0,
        requests: result.requests,
      });
      if (!result.ok) break;
    }
  })();
  await sim.run();
  await job;
  return events;
}

/** The same job played by the k6 runtime (scenario s1-ci-fan-out, iteration 0). */
async function viaRuntime(scenario: Scenario, plan: K6Plan) {
  const design = scenario.designs.find((d) => d.name === plan.design);
  const registry = scenarioRegistry(scenario, new ManualClock(), plan.seed);
  for (const name of plan.accounts)
    registry.addAccount({ name, password: plan.auth.password, plan: plan.accountPlan });
  const sim = new VirtualSim(plan.seed, scenario.duration);
  const hosts: Record<string, InProcessHandler> = {
    registry,
  };
  if (design?.mirror?.enabled)
    hosts.mirror = new MirrorModel({
      upstream: {
        transport: new InProcessTransport({ registry }),
        host: "registry",
        egressIp: "127.0.0.250",
      },
      flavour: design.mirror.flavour,
      sim,
    });
  loaded = await loadRuntime(plan, hosts, { localIPs: "127.1.0.2-127.1.0.3", egress: EGRESS });
  await loaded.iterate("ciJob", "s1-ci-fan-out", 0);
  return eventsFromPoints(loaded.points, { plan });
}

/** What must agree: each request's host, method, endpoint and answer (blobs in any order), and each pull. */
function shape(events: SimEvent[]) {
  const requests = events.flatMap((e) =>
    e.type === "request" ? [`${e.host} ${e.method} ${e.kind} ${e.status} ${e.identity}`] : [],
  );
  const pulls = events.flatMap((e) =>
    e.type === "pull"
      ? [
          `${e.actor} ${e.identity} ${e.image} ${e.outcome} ${e.reason ?? ""} ${e.status ?? ""} ${e.host ?? ""} ${e.requests}`,
        ]
      : [],
  );
  const ordered = requests.filter((r) => !r.includes(" blob "));
  return { ordered, all: [...requests].sort(), pulls };
}

let loaded: LoadedRuntime | undefined;
afterEach(() => {
  loaded?.close();
  loaded = undefined;
});

describe("the k6 runtime's pull client, held against the native client", () => {
  const cases: Array<[RuntimeModel["name"], string, number]> = [
    ["containerd", "anonymous", 2],
    ["containerd", "account", 100],
    ["containerd", "mirror", 100],
    ["dockerd", "anonymous", 2],
    ["dockerd", "account", 100],
    ["dockerd", "mirror", 3],
    ["cri-o", "anonymous", 100],
    ["cri-o", "account", 100],
  ];
  for (const [runtime, designName, limit] of cases) {
    it(`${runtime}, ${designName}${limit < 100 ? ", refused by the quota" : ""}: same requests, same pulls`, async () => {
      const scenario = scenarioFor(runtime, limit);
      const design = scenario.designs.find((d) => d.name === designName);
      if (!design) throw new Error(designName);
      const plan = await derivePlan(scenario, design);
      const k6 = await viaRuntime(scenario, plan);
      const expected = shape(await native(scenario, plan, runtime));
      const actual = shape(k6.events);
      expect(k6.unmatched).toBe(0);
      expect(actual.ordered).toEqual(expected.ordered);
      expect(actual.all).toEqual(expected.all);
      expect(actual.pulls).toEqual(expected.pulls);
      expect(actual.pulls.length).toBeGreaterThan(0);
      // the job's start, from the runtime's own sample
      expect(k6.events.filter((e) => e.type === "start")).toHaveLength(1);
    });
  }
});
