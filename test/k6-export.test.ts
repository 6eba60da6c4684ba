// `pullstorm k6 export` without k6: the plan follows the native runner's rules, the
// script is valid JS with the right executors, tags and thresholds, the printed
// command carries --local-ips, and k6's JSON output maps back onto the native events.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { eventsFromPoints, type K6Point, parseTime } from "../simulator/k6/events.ts";
import { derivePlan, type K6Plan, type NodeUnit, thresholdsOf } from "../simulator/k6/plan.ts";
import { commandLine, localIpsArg, renderScript } from "../simulator/k6/script.ts";
import { loadScenario } from "../simulator/scenario/load.ts";
import type { Design, Scenario } from "../simulator/scenario/schema.ts";
import { runCommand } from "./helpers/processes.ts";

const root = join(import.meta.dirname, "..");
const BIN = join(root, "bin", "pullstorm.js");
const CI = join(root, "scenarios", "ci-fan-out.yaml");
const CHURN = join(root, "scenarios", "node-churn.yaml");
const MONDAY = join(root, "scenarios", "monday-morning.yaml");
const dir = mkdtempSync(join(tmpdir(), "pullstorm-k6-export-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function designOf(s: Scenario, name: string): Design {
  return s.designs.find((d) => d.name === name) as Design;
}

async function planOf(file: string, design: string, timeScale?: number): Promise<K6Plan> {
  const s = loadScenario(file);
  return derivePlan(s, designOf(s, design), timeScale ? { timeScale } : {});
}

function nodesOf(plan: K6Plan): NodeUnit[] {
  return Object.values(plan.groups).flatMap((g) => (g.kind === "nodes" ? g.nodes : []));
}

describe("the plan", () => {
  it("CI fan-outs: shared-iterations with the runners as VUs, jobs numbered across fan-outs", async () => {
    const plan = await planOf(CI, "ephemeral-one-nat");
    expect(plan.timeScale).toBe(120); // defaultTimeScale: 2 h in about a minute, as the native live engine
    const scenarios = plan.options.scenarios ?? {};
    expect(Object.keys(scenarios)).toEqual(["s1-ci-fan-out", "s2-ci-fan-out"]);
    expect(scenarios["s2-ci-fan-out"]).toMatchObject({
      executor: "shared-iterations",
      exec: "ciJob",
      vus: 50,
      iterations: 50,
      startTime: "35000ms", // 70 min / 120
    });
    expect(plan.groups["s2-ci-fan-out"]).toMatchObject({ kind: "ci", firstJob: 50, jobs: 50 });
    expect(plan.egressIps).toEqual(["127.1.0.2"]);
    expect(plan.ciRuntime).toBe("dockerd");
    expect(plan.ephemeralRunners).toBe(true);
    const fewer = await planOf(CI, "fewer-at-once");
    expect(fewer.options.scenarios?.["s1-ci-fan-out"]).toMatchObject({ vus: 10, iterations: 50 });
  });

  it("node churn: per-vu-iterations waves, a VU per new node, paced as the design says", async () => {
    const all = await planOf(CHURN, "anonymous-one-nat");
    const nodes = nodesOf(all);
    // 40 replaced + 20 added + 5 restarted; the 40 warm nodes never pull and get no VU
    expect(nodes.map((n) => n.name)).toHaveLength(65);
    expect(nodes[0]).toMatchObject({ name: "node-41", index: 40, createdAtMs: 15 * 60_000 });
    expect(nodes[0]?.actions[0]).toMatchObject({ op: "pods", atMs: 15 * 60_000 });
    // unpaced churn over 20 min: one node every 30 s
    expect(all.options.scenarios?.["s1-node-churn-wave-02"]).toMatchObject({
      executor: "per-vu-iterations",
      exec: "node",
      vus: 1,
      iterations: 1,
      startTime: `${(15 * 60_000 + 30_000) / 120}ms`,
    });
    // the on-call's restart at 50m recycles the first nodes of the rollout
    const restarted = nodes.filter((n) => n.actions.some((a) => a.op === "remove"));
    expect(restarted.map((n) => n.name)).toEqual([
      "node-41",
      "node-42",
      "node-43",
      "node-44",
      "node-45",
    ]);
    const paced = await planOf(CHURN, "anonymous-paced");
    const waves = Object.entries(paced.options.scenarios ?? {}).filter(([n]) =>
      n.startsWith("s1-node-churn-wave-"),
    );
    expect(waves).toHaveLength(10); // 40 nodes, 4 every 5 minutes
    expect(waves.every(([, s]) => "vus" in s && s.vus === 4)).toBe(true);
    const pods = nodes[0]?.actions[0];
    expect(pods?.op === "pods" && pods.pods.map((p) => [p.ref.text, p.policy])).toEqual([
      ["library/nginx:1.25", "IfNotPresent"],
      ["library/redis:7", "IfNotPresent"],
    ]);
    expect(all.routes.containerd).toEqual([{ host: "registry", role: "upstream" }]);
    const fix = await planOf(CHURN, "the-fix");
    expect(fix.routes.containerd.map((r) => r.host)).toEqual(["mirror", "registry"]);
    expect(fix.accounts).toContain("node-105");
  });

  it("arrivals: ramping-arrival-rate at the step's pace, warm desktop stores", async () => {
    const plan = await planOf(MONDAY, "office-nat-anonymous");
    const [name, s] = Object.entries(plan.options.scenarios ?? {})[0] ?? [];
    expect(name).toMatch(/arrivals$/);
    expect(s).toMatchObject({ executor: "ramping-arrival-rate", exec: "desktop", maxVUs: 80 });
    expect(plan.desktopWarm.length).toBeGreaterThan(0);
  });

  it("expectations become thresholds", () => {
    expect(
      thresholdsOf([
        { design: "x", verdict: "holds", maxFailedPulls: 0, maxUpstream429: 0, minUnitsStarted: 1 },
        { design: "x", maxP95StartSeconds: 600 },
      ]),
    ).toEqual({
      pullstorm_breaks: ["count==0"],
      pullstorm_pulls_failed: ["count<=0"],
      "http_reqs{host:registry,status:429}": ["count<=0"],
      pullstorm_units_started: ["rate>=1"],
      "pullstorm_start_seconds{ok:true}": ["p(95)<=600"],
    });
    expect(thresholdsOf([{ design: "x", verdict: "breaks" }])).toEqual({
      pullstorm_breaks: ["count>0"],
    });
  });

  it("--local-ips folds the design's egress addresses into ranges, in order", () => {
    expect(localIpsArg(["127.1.0.2"])).toBe("127.1.0.2");
    expect(localIpsArg(["127.1.0.2", "127.1.0.3", "127.1.0.4"])).toBe("127.1.0.2-127.1.0.4");
    const many = Array.from(
      { length: 252 },
      (_, i) => `127.1.${Math.floor(i / 250)}.${(i % 250) + 2}`,
    );
    expect(localIpsArg(many)).toBe("127.1.0.2-127.1.0.251,127.1.1.2-127.1.1.3");
  });
});

describe("the script", () => {
  it("is valid JavaScript carrying the plan, tags every request and exports the executors' functions", async () => {
    const plan = await planOf(CI, "split-egress");
    const file = join(dir, "split.mjs");
    const text = renderScript(
      plan,
      commandLine(plan, { script: file, registry: "http://127.0.0.1:5000" }),
    );
    writeFileSync(file, text);
    const check = await runCommand(process.execPath, ["--check", file]);
    expect(check.stderr).toBe("");
    expect(check.status).toBe(0);
    expect(text).not.toContain("__PULLSTORM_PLAN__");
    expect(text).toContain('"format": "pullstorm-k6-plan/1"');
    expect(text).toMatch(/^\/\/ {3}k6 run --local-ips 127\.1\.0\.2-127\.1\.0\.51 /m);
    for (const fn of ["setup", "node", "ciJob", "desktop"])
      expect(text).toMatch(new RegExp(`^export (async )?function ${fn}\\(`, "m"));
    expect(text).toContain("export const options = PLAN.options;");
    // design (test-wide), endpoint kind and identity on every request
    expect(plan.options.tags).toMatchObject({ design: "split-egress" });
    expect(text).toMatch(/const tags = \{\s+kind,\s+identity: this\.identity,/);
  });

  it("pullstorm k6 export writes it and prints the full command with --local-ips", async () => {
    const out = join(dir, "churn.js");
    const r = await runCommand(process.execPath, [
      BIN,
      "k6",
      "export",
      CHURN,
      "--design",
      "anonymous-paced",
      "-o",
      out,
    ]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      `npx pullstorm k6 serve ${CHURN} --design anonymous-paced --port 5000`,
    );
    expect(r.stderr).toMatch(
      /k6 run --local-ips 127\.1\.0\.2 -e PULLSTORM_REGISTRY=http:\/\/127\.0\.0\.1:5000 -e PULLSTORM_SYNC_URL=http:\/\/127\.0\.0\.1:5002\/start\/anonymous-paced --out json=node-churn-anonymous-paced\.k6\.json\.gz \S*churn\.js/,
    );
    const text = readFileSync(out, "utf8");
    expect(text).toContain('"executor": "per-vu-iterations"');
    expect(text).toContain('"pullstorm_breaks": [\n        "count>0"');
    const bad = await runCommand(process.execPath, [
      BIN,
      "k6",
      "export",
      CHURN,
      "--design",
      "nope",
    ]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("--design nope: no such design");
    const remote = await runCommand(process.execPath, [
      BIN,
      "k6",
      "export",
      CHURN,
      "--design",
      "anonymous-paced",
      "--target",
      "https://registry-1.docker.io",
    ]);
    expect(remote.status).toBe(2);
    expect(remote.stderr).toContain("refusing to send load there");
  });
});

describe("k6 JSON output to events", () => {
  it("joins each http_reqs Point with its answer, converts time and fills in jobs never started", async () => {
    const plan = await planOf(CI, "ephemeral-one-nat");
    const t0 = Date.UTC(2026, 0, 1, 0, 0, 0);
    const at = (wallMs: number) => t0 + wallMs;
    const points: K6Point[] = [
      {
        metric: "pullstorm_t0",
        timeMs: at(0),
        value: t0,
        tags: { design: plan.design },
        metadata: {},
      },
      {
        metric: "http_reqs",
        timeMs: at(5000),
        value: 1,
        tags: {
          design: plan.design,
          kind: "manifest",
          identity: "127.1.0.2",
          egress: "127.1.0.2",
          host: "registry",
          method: "GET",
          status: "429",
        },
        metadata: { rq: "3.7", actor: "job-1" },
      },
      {
        metric: "pullstorm_response_bytes",
        timeMs: at(5000),
        value: 207,
        tags: { design: plan.design, kind: "manifest", host: "registry" },
        metadata: {
          rq: "3.7",
          code: "TOOMANYREQUESTS",
          refusal: "quota",
          ratelimit: "100;0;21600;127.1.0.2",
          latency: "1.5",
        },
      },
      {
        metric: "pullstorm_pull_seconds",
        timeMs: at(5001),
        value: 0.12,
        tags: {
          design: plan.design,
          identity: "127.1.0.2",
          image: "library/node:20",
          outcome: "failed",
          reason: "quota",
          host: "registry",
        },
        metadata: { actor: "job-1", status: "429", requests: "3" },
      },
      {
        metric: "pullstorm_start_seconds",
        timeMs: at(5002),
        value: 0.24,
        tags: { design: plan.design, what: "job", ok: "false" },
        metadata: { actor: "runner-1", id: "job-1" },
      },
      // another design's Point in the same file is not this design's
      {
        metric: "http_reqs",
        timeMs: at(5000),
        value: 1,
        tags: { design: "other", kind: "manifest", host: "registry", method: "GET", status: "200" },
        metadata: {},
      },
    ];
    const { events, requests, unmatched } = eventsFromPoints(points, { plan });
    expect(requests).toBe(1);
    expect(unmatched).toBe(0);
    expect(events[0]).toEqual({
      type: "request",
      t: 600, // 5 wall seconds at x120
      design: "ephemeral-one-nat",
      actor: "job-1",
      identity: "127.1.0.2",
      egressIp: "127.1.0.2",
      host: "registry",
      kind: "manifest",
      method: "GET",
      status: 429,
      bytes: 207,
      latencyMs: 1.5,
      code: "TOOMANYREQUESTS",
      rateLimit: { limit: 100, remaining: 0, windowSeconds: 21600, source: "127.1.0.2" },
      refusal: "quota",
    });
    expect(events[1]).toEqual({
      type: "pull",
      t: 600.12,
      design: "ephemeral-one-nat",
      actor: "job-1",
      identity: "127.1.0.2",
      image: "library/node:20",
      outcome: "failed",
      reason: "quota",
      status: 429,
      host: "registry",
      durationSeconds: 0.12,
      requests: 3,
    });
    expect(events[2]).toMatchObject({ type: "start", what: "job", id: "job-1", ok: false });
    // the other 99 jobs never ran: not started, from the queue, as CiFleet.finish() reports them
    const queued = events.filter((e) => e.type === "start" && e.actor === "queue");
    expect(queued).toHaveLength(99);
    expect(queued[0]).toMatchObject({ t: 7200, id: "job-2", seconds: 6600 });
  });

  it("reads k6's nanosecond timestamps", () => {
    expect(parseTime("2026-01-01T00:00:01.123456789Z")).toBeCloseTo(
      Date.UTC(2026, 0, 1, 0, 0, 1) + 123.456789,
      6,
    );
    expect(parseTime("2026-01-01T02:00:01.5+02:00")).toBe(Date.UTC(2026, 0, 1, 0, 0, 1, 500));
  });
});

describe("the k6-operator example", () => {
  it("serves and runs the same design, without --local-ips, naming each pod's address", async () => {
    const { parseAllDocuments } = await import("yaml");
    const docs = parseAllDocuments(
      readFileSync(join(root, "docs", "examples", "k6-testrun.yaml"), "utf8"),
    ).map((d) => d.toJS());
    const deployment = docs.find((d) => d.kind === "Deployment");
    const run = docs.find((d) => d.kind === "TestRun");
    const serveArgs: string[] = deployment.spec.template.spec.containers[0].args;
    expect(serveArgs.slice(0, 2)).toEqual(["k6", "serve"]);
    const design = serveArgs[serveArgs.indexOf("--design") + 1] as string;
    const s = loadScenario(join(root, serveArgs[2] as string));
    expect(s.designs.map((d) => d.name)).toContain(design);
    expect(run.apiVersion).toBe("k6.io/v1alpha1");
    expect(run.spec.parallelism).toBeGreaterThan(1);
    expect(run.spec.arguments).toContain(`/start/${design}`);
    expect(run.spec.arguments).toContain("PULLSTORM_REGISTRY=http://pullstorm-registry.");
    expect(run.spec.arguments).not.toContain("--local-ips");
    expect(run.spec.runner.env[0].name).toBe("PULLSTORM_EGRESS");
  });
});
