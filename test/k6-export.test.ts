// `pullstorm k6 export` without k6: the plan is the workload director's (recorded),
// the script is a valid ES module with the right executors and thresholds, and the
// printed command carries --local-ips. test/k6-bundle.test.ts plays the bundle.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { derivePlan, type K6Plan, type NodeUnit, thresholdsOf } from "../simulator/k6/plan.ts";
import { commandLine, localIpsArg, renderScript } from "../simulator/k6/script.ts";
import { loadScenario } from "../simulator/scenario/load.ts";
import type { Design, Scenario } from "../simulator/scenario/schema.ts";
import { formatReference } from "../vocabulary/oci/reference.ts";
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
    const second = plan.groups["s2-ci-fan-out"];
    expect(second?.kind === "ci" && [second.jobs.length, second.jobs[0]?.index]).toEqual([50, 50]);
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
    expect(pods?.op === "pods" && pods.pods.map((p) => formatReference(p.ref))).toEqual([
      "library/nginx:1.25",
      "library/redis:7",
    ]);
    // kubelet's default: IfNotPresent for a tag that is not latest
    expect(pods?.op === "pods" && pods.pods.map((p) => p.policy)).toEqual(["default", "default"]);
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
      "pullstorm_requests{host:registry,status:429}": ["count<=0"],
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
  it("is a valid ES module carrying the plan and exporting options, setup and the executors' functions", async () => {
    const plan = await planOf(CI, "split-egress");
    const file = join(dir, "split.mjs");
    const text = await renderScript(
      plan,
      commandLine(plan, { script: file, registry: "http://127.0.0.1:5000" }),
    );
    writeFileSync(file, text);
    const check = await runCommand(process.execPath, ["--check", file]);
    expect(check.stderr).toBe("");
    expect(check.status).toBe(0);
    expect(text).not.toMatch(/=\s*PULLSTORM_PLAN;/); // the plan is written in
    expect(text).toContain('format: "pullstorm-k6-plan/3"');
    expect(text).toMatch(/^\/\/ {3}k6 run --local-ips 127\.1\.0\.2-127\.1\.0\.51 /m);
    const exported = /^export \{([^}]*)\};$/m.exec(text)?.[1] ?? "";
    for (const name of ["options", "setup", "node", "ciJob", "desktop", "idle"])
      expect(exported).toMatch(new RegExp(`\\b${name}\\b`));
    // design (test-wide) on every sample; host and kind on every request
    expect(plan.options.tags).toMatchObject({ design: "split-egress" });
    expect(text).toMatch(/tags: \{ host: req\.host, kind, name: `\$\{req\.host\} \$\{kind\}` \}/);
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
    expect(text).toContain('executor: "per-vu-iterations"');
    expect(text).toContain('pullstorm_breaks: ["count>0"]');
    expect(r.stderr).toContain("pullstorm does not ship, build or install k6");
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
