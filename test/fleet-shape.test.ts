// Several origin registries, per-image pull policy, pull secrets and pins, and
// replicas spread over nodes (issue 18): what an imported fleet needs the engines to do.
import { describe, expect, it } from "vitest";
import { runScenario } from "../harness/run.ts";
import { checkScenario, parseScenario } from "../simulator/scenario/load.ts";
import type { PullEvent, RequestEvent, SimEvent, StartEvent } from "../vocabulary/events.ts";

/** Two registries: Docker Hub's and ghcr.io's, each with its own quota (`hub` and `ghcr` anonymous pulls per 6 h per IP). */
const twoRegistries = (hub: number, ghcr: number, nodes: number) =>
  parseScenario(
    `name: two-registries
duration: 30m
registry:
  preset: dockerhub-2020
  policy: { limits: { pulls: { anonymous: { limit: ${hub}, window: 6h } } } }
registries:
  - host: ghcr.io
    preset: dockerhub-2020
    policy: { limits: { pulls: { anonymous: { limit: ${ghcr}, window: 6h } } } }
    catalog: { images: [{ name: acme/api, tags: ["1.4"] }] }
images:
  - { name: web, ref: "nginx:1.25" }
  - { name: api, ref: "ghcr.io/acme/api:1.4" }
fleet: { nodes: 0, runtime: containerd, pods: [web, api] }
workload:
  - { type: scale-up, nodes: ${nodes}, over: 5m }
designs:
  - { name: one-nat }
`,
    "two-registries.yaml",
  );

const requests = (events: SimEvent[]) =>
  events.filter((e): e is RequestEvent => e.type === "request");
const pulls = (events: SimEvent[]) => events.filter((e): e is PullEvent => e.type === "pull");
const starts = (events: SimEvent[]) =>
  events.filter((e): e is StartEvent => e.type === "start" && e.ok);

describe("several origin registries", () => {
  it("each image's requests go to its own registry, and only its quota is spent", async () => {
    // 12 nodes, one pull of each image each: 12 at each registry. Docker Hub allows 12 and
    // holds; were ghcr's pulls charged to Docker Hub too it would see 24 and break.
    const { report, events } = await runScenario(twoRegistries(12, 100, 12), {
      mode: "virtual",
    });
    const design = report.designs[0];
    expect(design?.verdict).toBe("holds");
    const hosts = new Map<string, Set<string>>();
    for (const r of requests(events)) {
      const path = r.kind === "ping" || r.kind === "token" ? "" : r.host;
      if (path) hosts.set(r.host, new Set([...(hosts.get(r.host) ?? []), r.kind]));
    }
    expect([...hosts.keys()].sort()).toEqual(["registry", "registry:ghcr.io"]);
    const ok = pulls(events).filter((p) => p.outcome === "ok");
    expect(ok.filter((p) => p.image === "ghcr.io/acme/api:1.4")).toHaveLength(12);
    expect(ok.filter((p) => p.image === "library/nginx:1.25")).toHaveLength(12);
    // Every origin's requests count as upstream in the report.
    expect(design?.upstream.pulls).toBe(24);
  });

  it("a registry's own quota refuses its images only, and the report says which", async () => {
    // ghcr.io allows 5: its 6th pull is refused; Docker Hub's 12 pulls are all served.
    const { report, events, analysis } = await runScenario(twoRegistries(100, 5, 12), {
      mode: "virtual",
    });
    const design = report.designs[0];
    expect(design?.verdict).toBe("breaks");
    // The address is a separate identity at each registry: the finding names ghcr.io's quota.
    const quota = analysis.findings.find((f) => f.code === "quota-exhausted");
    expect(quota?.cause).toMatch(/quota of 5 pulls per 6h ran out on .*127\.1\.0\.2 at ghcr\.io/);
    expect(analysis.scenario.registries).toEqual([{ host: "ghcr.io", preset: "dockerhub-2020" }]);
    const refused = requests(events).filter((r) => r.status === 429);
    expect(refused.length).toBeGreaterThan(0);
    expect(new Set(refused.map((r) => r.host))).toEqual(new Set(["registry:ghcr.io"]));
    const failed = pulls(events).filter((p) => p.outcome === "failed");
    expect(new Set(failed.map((p) => p.image))).toEqual(new Set(["ghcr.io/acme/api:1.4"]));
    expect(design?.firstBreak?.reason).toBe("quota");
    expect(
      pulls(events).filter((p) => p.image === "library/nginx:1.25" && p.outcome === "ok"),
    ).toHaveLength(12);
  });

  it("a mirror fronts Docker Hub only: images of other registries go to their own", async () => {
    const scenario = parseScenario(
      `name: mirrored
duration: 30m
registries:
  - host: ghcr.io
    preset: unlimited
    catalog: { images: [{ name: acme/api, tags: ["1.4"] }] }
images:
  - { name: web, ref: "nginx:1.25" }
  - { name: api, ref: "ghcr.io/acme/api:1.4" }
fleet: { nodes: 0, runtime: containerd, pods: [web, api] }
workload:
  - { type: scale-up, nodes: 4, over: 5m }
designs:
  - { name: mirror, mirror: { enabled: true } }
`,
      "mirrored.yaml",
    );
    const { events } = await runScenario(scenario, { mode: "virtual" });
    const nodeRequests = requests(events).filter((r) => r.actor.startsWith("node-"));
    // Nodes ask the mirror for Docker Hub's image only...
    const atMirror = nodeRequests.filter((r) => r.host === "mirror");
    expect(atMirror.length).toBeGreaterThan(0);
    // ... and ghcr.io itself for its own; the mirror never asks ghcr.io.
    const atGhcr = requests(events).filter((r) => r.host === "registry:ghcr.io");
    expect(atGhcr.length).toBeGreaterThan(0);
    expect(atGhcr.every((r) => r.actor.startsWith("node-"))).toBe(true);
    // Docker Hub saw the mirror's requests, not the nodes' manifests.
    const hubManifests = requests(events).filter(
      (r) => r.host === "registry" && r.kind === "manifest",
    );
    expect(hubManifests.every((r) => r.actor === "mirror")).toBe(true);
    expect(pulls(events).every((p) => p.outcome === "ok")).toBe(true);
  });

  it("refuses an image on a registry the scenario does not list, naming the field", () => {
    expect(() =>
      parseScenario(
        `name: x
duration: 10m
images: [{ name: api, ref: "quay.io/acme/api:1" }]
fleet: { nodes: 1, pods: [api] }
workload: [{ type: prune }]
designs: [{ name: d }]
`,
        "x.yaml",
      ),
    ).toThrow(
      /x\.yaml:3:\d+: images\.0\.ref: quay\.io\/acme\/api:1 is on quay\.io, which is not under registries/,
    );
  });

  it("refuses a registry listed twice and Docker Hub as an entry", () => {
    const base = `name: x
duration: 10m
images: [{ name: web, ref: "nginx:1.25" }]
fleet: { nodes: 1, pods: [web] }
workload: [{ type: prune }]
designs: [{ name: d }]
`;
    expect(() =>
      parseScenario(
        `${base}registries: [{ host: ghcr.io, preset: ghcr }, { host: ghcr.io, preset: ghcr }]\n`,
        "x.yaml",
      ),
    ).toThrow(/registries\.1\.host: ghcr\.io is listed twice/);
    expect(() =>
      parseScenario(`${base}registries: [{ host: docker.io, preset: ghcr }]\n`, "x.yaml"),
    ).toThrow(/Docker Hub is `registry`/);
    expect(() =>
      parseScenario(`${base}registries: [{ host: ghcr.io, preset: ghrc }]\n`, "x.yaml"),
    ).toThrow(/registries\.0\.preset/);
  });
});

/** Five nodes: web on every node, api as 3 replicas; every node recycled, two added, api restarted. */
const replicated = (apiExtra: string, design = "{ name: d }") =>
  parseScenario(
    `name: replicas
duration: 40m
registry: { preset: unlimited }
registries:
  - host: ghcr.io
    preset: unlimited
    catalog: { images: [{ name: acme/api, tags: ["1.4"] }] }
images:
  - { name: web, ref: "nginx:1.25" }
  - { name: api, ref: "ghcr.io/acme/api:1.4"${apiExtra} }
fleet: { nodes: 5, runtime: containerd, pods: [web, { image: api, replicas: 3 }] }
workload:
  - { type: node-churn, at: 1m, nodes: 5 }
  - { type: scale-up, at: 10m, nodes: 2 }
  - { type: rolling-restart, at: 20m, image: api }
designs: [${design}]
`,
    "replicas.yaml",
  );

describe("fleet pods as replicas, per-image policy, secrets and pins", () => {
  it("replicas live on their nodes: churn moves them, scale-up adds none, a restart restarts them only", async () => {
    const { events } = await runScenario(replicated(""), { mode: "virtual" });
    const api = starts(events).filter((s) => s.image === "ghcr.io/acme/api:1.4");
    const web = starts(events).filter((s) => s.image === "library/nginx:1.25");
    // 3 api pods on the replaced nodes, 3 again at the restart; web on 5 replacements and 2 new nodes.
    expect(api).toHaveLength(6);
    expect(web).toHaveLength(7);
    // The restart is on the three nodes that run api: the replacements of node-1..3.
    const restarted = new Set(api.filter((s) => s.t >= 20 * 60).map((s) => s.actor));
    expect([...restarted].sort()).toEqual(["node-6", "node-7", "node-8"]);
    // IfNotPresent (a tag that is not latest): the restart pulls nothing.
    expect(pulls(events).filter((p) => p.image.startsWith("ghcr.io/"))).toHaveLength(3);
  });

  it("an image's own pullPolicy is used, and a design's pullPolicy overrides it", async () => {
    const always = await runScenario(replicated(", pullPolicy: Always"), { mode: "virtual" });
    const apiPulls = (events: SimEvent[]) =>
      pulls(events).filter((p) => p.image.startsWith("ghcr.io/"));
    // Always: each restarted pod resolves the tag again (cached: nothing new downloaded).
    expect(apiPulls(always.events)).toHaveLength(6);
    expect(apiPulls(always.events).filter((p) => p.outcome === "cached")).toHaveLength(3);
    const overridden = await runScenario(
      replicated(", pullPolicy: Always", "{ name: d, pullPolicy: IfNotPresent }"),
      { mode: "virtual" },
    );
    expect(apiPulls(overridden.events)).toHaveLength(3);
  });

  it("pullSecret: the image is pulled with an account while the rest stay anonymous", async () => {
    const { events } = await runScenario(replicated(", pullSecret: true"), { mode: "virtual" });
    const who = (prefix: string) =>
      new Set(
        pulls(events)
          .filter((p) => p.image.startsWith(prefix))
          .map((p) => p.identity),
      );
    expect(who("ghcr.io/")).toEqual(new Set(["pull-secret"]));
    expect([...who("library/")].every((i) => /^127\./.test(i))).toBe(true);
    // The registry saw credentials on the api image's requests only.
    const authed = requests(events).filter((r) => r.identity === "pull-secret");
    expect(new Set(authed.map((r) => r.host))).toEqual(new Set(["registry:ghcr.io"]));
  });

  it("pinned: the image's pods name it by the digest its tag has; other images stay by tag", async () => {
    const { events } = await runScenario(replicated(", pinned: true"), { mode: "virtual" });
    const api = starts(events).filter((s) => s.image?.startsWith("ghcr.io/"));
    expect(api.length).toBe(6);
    expect(api.every((s) => /^ghcr\.io\/acme\/api@sha256:[0-9a-f]{64}$/.test(s.image ?? ""))).toBe(
      true,
    );
    expect(starts(events).some((s) => s.image === "library/nginx:1.25")).toBe(true);
  });

  it("validation: replicas need nodes; a restart of an image no pod runs is a warning", () => {
    expect(() =>
      parseScenario(
        `name: x
duration: 10m
images: [{ name: web, ref: "nginx:1.25" }]
fleet: { nodes: 0, pods: [{ image: web, replicas: 2 }] }
workload: [{ type: scale-up, nodes: 1 }]
designs: [{ name: d }]
`,
        "x.yaml",
      ),
    ).toThrow(/fleet\.pods\.0\.replicas: replicas are spread over fleet\.nodes, which is 0/);
    const { warnings } = checkScenario(
      `name: x
duration: 10m
images: [{ name: web, ref: "nginx:1.25" }, { name: api, ref: "redis:7" }]
fleet: { nodes: 2, pods: [web] }
workload: [{ type: rolling-restart, at: 1m, image: api }]
designs: [{ name: d }]
`,
      "x.yaml",
    );
    expect(warnings).toEqual([
      expect.stringMatching(
        /x\.yaml:5:\d+: workload\.0\.image: no fleet pod runs "api" \(fleet\.pods\): the rolling-restart restarts nothing/,
      ),
    ]);
  });
});

describe("what cannot play several registries says so", () => {
  it("the k6 export refuses registries and pull secrets, naming them", async () => {
    const { derivePlan } = await import("../simulator/k6/plan.ts");
    const scenario = twoRegistries(100, 100, 2);
    await expect(derivePlan(scenario, scenario.designs[0] as never)).rejects.toThrow(
      /registries: the k6 export plays one registry \(Docker Hub's\); this scenario also pulls from ghcr\.io/,
    );
    const secret = replicated(", pullSecret: true");
    secret.registries = [];
    secret.images = secret.images.map((i) => (i.name === "api" ? { ...i, ref: "nginx:1.25" } : i));
    await expect(derivePlan(secret, secret.designs[0] as never)).rejects.toThrow(
      /"api" has pullSecret: true; the k6 export authenticates per design only/,
    );
  });

  it("--target stands for Docker Hub alone: a scenario with registries is refused before any request", async () => {
    await expect(
      runScenario(twoRegistries(100, 100, 2), {
        mode: "live",
        timeScale: 10,
        target: "http://127.0.0.1:9",
      }),
    ).rejects.toThrow(
      /--target stands for Docker Hub's registry; this scenario also pulls from ghcr\.io/,
    );
  });
});
