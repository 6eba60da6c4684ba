// The scenario runner end to end: the models decide which design breaks.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runScenario } from "../harness/run.ts";
import { loadScenario, parseScenario } from "../simulator/scenario/load.ts";
import { checkTarget } from "../simulator/target.ts";

const MINI = join(import.meta.dirname, "fixtures", "mini-churn.yaml");

describe("scenario runner, virtual", () => {
  it("breaks behind one NAT IP and holds with split egress or accounts, from the models' counts", async () => {
    const { report, events } = await runScenario(loadScenario(MINI), { mode: "virtual" });
    const by = Object.fromEntries(report.designs.map((d) => [d.name, d]));
    // 10 new nodes x 2 multi-arch images = 20 pulls (2 GETs each, one pull) > 12 from one IP
    expect(by["anonymous-nat"]?.verdict).toBe("breaks");
    expect(by["anonymous-nat"]?.firstBreak?.reason).toBe("quota");
    expect(by["anonymous-nat"]?.upstream.status["429"]).toBeGreaterThan(0);
    expect(by["split-egress"]?.verdict).toBe("holds");
    // ... plus one unauthenticated GET per pull: containerd's fetcher has its own authorizer,
    // so its first GET is challenged (401, not counted) as real ctr's is (test/real/calibration.test.ts)
    expect(by["split-egress"]?.upstream.manifestGet).toBe(60);
    // ... and the registry charged one pull per image pulled
    expect(by["split-egress"]?.upstream.pulls).toBe(20);
    expect(by["split-egress"]?.upstream.status["401"]).toBe(40);
    // containerd resolves with HEAD: first a 401 challenge, then the HEAD with a token (free on Docker Hub)
    expect(by["split-egress"]?.upstream.manifestHead).toBe(40);
    expect(by.authenticated?.verdict).toBe("holds");
    expect(by.authenticated?.podStartSeconds?.count).toBe(20);
    expect(report.expectations.every((e) => e.passed)).toBe(true);
    expect(events.filter((e) => e.type === "request").length).toBeGreaterThan(100);
  });

  it("is reproducible: same seed, same report", async () => {
    const scenario = loadScenario(MINI);
    const a = await runScenario(scenario, { mode: "virtual", designs: ["anonymous-nat"] });
    const b = await runScenario(scenario, { mode: "virtual", designs: ["anonymous-nat"] });
    expect(JSON.stringify(a.report)).toBe(JSON.stringify(b.report));
  });
});

describe("a mirror configured on more than one runtime", () => {
  // containerd nodes and dockerd CI runners: hosts.toml on the nodes, registry-mirrors on the runners.
  const mixed = (configuredFor: string) =>
    parseScenario(
      `name: mixed
duration: 10m
images: [{ name: web, ref: "library/nginx:1.25" }, { name: build, ref: "library/node:20" }]
fleet: { runtime: containerd, pods: [web], ciRunners: 3, ciRuntime: dockerd }
workload:
  - { type: scale-up, nodes: 3 }
  - { type: ci-fan-out, jobs: 3, images: [build] }
designs:
  - name: mirror
    mirror: { enabled: true, configuredFor: ${configuredFor} }
`,
      "mixed.yaml",
    );
  const whoAskedTheMirror = async (configuredFor: string) => {
    const { events } = await runScenario(mixed(configuredFor), { mode: "virtual" });
    return [
      ...new Set(
        events.flatMap((e) => (e.type === "request" && e.host === "mirror" ? [e.actor] : [])),
      ),
    ].sort();
  };

  it("[containerd, dockerd]: nodes and CI jobs ask the mirror; one runtime: only its actors do", async () => {
    const nodes = ["node-1", "node-2", "node-3"];
    const jobs = ["job-1", "job-2", "job-3"];
    expect(await whoAskedTheMirror("[containerd, dockerd]")).toEqual([...jobs, ...nodes]);
    expect(await whoAskedTheMirror("containerd")).toEqual(nodes);
    expect(await whoAskedTheMirror("[dockerd]")).toEqual(jobs);
  });

  it("an empty list or an unknown runtime is bad input, named", () => {
    expect(() => mixed("[]")).toThrow(/configuredFor: Too small/);
    expect(() => mixed("[containerd, podman]")).toThrow(
      /configuredFor: a runtime \(containerd, dockerd, cri-o\) or a non-empty list/,
    );
  });
});

describe("simulated waits", () => {
  it("slow mirror storage and injected latency take simulated time without hanging the scheduler", async () => {
    const text = readFileSync(MINI, "utf8")
      .replace(
        "designs:\n",
        "faults:\n  - { type: latency, ms: 2000, scope: { kinds: [blob] } }\ndesigns:\n  - name: slow-mirror\n    mirror: { enabled: true, storageLatency: 3s }\n",
      )
      .replace("expectations:\n", "expectations:\n  - { design: slow-mirror, verdict: holds }\n");
    const scenario = parseScenario(text, "slow.yaml");
    const { report } = await runScenario(scenario, {
      mode: "virtual",
      designs: ["slow-mirror", "split-egress"],
    });
    const slow = report.designs.find((d) => d.name === "slow-mirror");
    const fast = report.designs.find((d) => d.name === "split-egress");
    expect(slow?.verdict).toBe("holds");
    expect(slow?.mirror?.misses).toBeGreaterThan(0);
    // every blob read from the mirror's storage costs 3 s, every upstream blob 2 s more
    expect(slow?.podStartSeconds?.p50).toBeGreaterThan((fast?.podStartSeconds?.p50 ?? 0) + 5);
  });
});

describe("HTTP transport rate cap", () => {
  it("spaces requests so --max-rps is never exceeded", async () => {
    const { HttpTransport } = await import("../simulator/engine/transport.ts");
    const { startRegistry } = await import("./helpers/registry.ts");
    const running = await startRegistry({ auth: false });
    try {
      const transport = new HttpTransport({ registry: running.url }, { maxRps: 20 });
      const started = performance.now();
      await Promise.all(
        Array.from({ length: 11 }, () =>
          transport.send(
            { host: "registry", method: "GET", path: "/v2/", headers: {} },
            "127.0.0.1",
          ),
        ),
      );
      expect(performance.now() - started).toBeGreaterThanOrEqual(490); // 10 gaps of 50 ms
      expect(running.registry.stats.count("ping", "GET", 200)).toBe(11);
    } finally {
      await running.close();
    }
  });
});

describe("remote targets", () => {
  it("are refused without --allow-remote and --max-rps, before any connection", () => {
    // The guard is pure: it parses the URL and decides; nothing is resolved or connected.
    expect(checkTarget("http://127.0.0.1:5000", {})).toMatchObject({ ok: true });
    expect(checkTarget("http://[::1]:5000", {})).toMatchObject({ ok: true });
    expect(checkTarget("http://localhost:5000", {})).toMatchObject({ ok: true });
    const refused = checkTarget("https://registry-1.docker.io", {});
    expect(refused).toMatchObject({ ok: false });
    expect(checkTarget("https://registry-1.docker.io", { allowRemote: true })).toMatchObject({
      ok: false,
    });
    expect(checkTarget("https://registry-1.docker.io", { maxRps: 5 })).toMatchObject({ ok: false });
    expect(
      checkTarget("https://registry-1.docker.io", { allowRemote: true, maxRps: 5 }),
    ).toMatchObject({ ok: true, maxRps: 5 });
    expect(checkTarget("ftp://127.0.0.1", {})).toMatchObject({ ok: false });
    expect(checkTarget("http://127.0.0.1.example.com", {})).toMatchObject({ ok: false });
  });
});
