// `pullstorm scenario import` (issue 18): a scenario written from kubectl and Helm output
// (simulator/scenario/import.ts, cli/scenario.ts), on the fixtures of
// test/kubernetes-inventory.test.ts.
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { BUILTIN_IMAGES } from "../fake-registry/catalog/builtin.ts";
import { importScenario } from "../simulator/scenario/import.ts";
import {
  type Inventory,
  inventoryOf,
  KubernetesInputError,
  presetForRegistry,
  readKubernetesObjects,
} from "../simulator/scenario/kubernetes.ts";
import { readScenario } from "../simulator/scenario/load.ts";
import { defaultPullPolicy, parseImageReference } from "../vocabulary/oci/reference.ts";
import { fileIn, inTempDir } from "./helpers/files.ts";
import { BIN, pullstorm, runCommand } from "./helpers/processes.ts";

const dir = join(import.meta.dirname, "fixtures", "kubernetes");
const KUBECTL = "kubectl-nodes-pods.json";
const HELM = "helm-template.yaml";
const read = (file: string) => readFileSync(join(dir, file), "utf8");
const inputs = (...files: string[]) => files.map((f) => ({ text: read(f), source: f }));
const inventoryFrom = (...files: string[]): Inventory =>
  inventoryOf(files.flatMap((f) => readKubernetesObjects(read(f), f)));

interface CatalogImage {
  name: string;
  tags: string[];
}
interface ScenarioImage {
  name: string;
  ref: string;
  pullPolicy?: string;
  pullSecret?: boolean;
  pinned?: boolean;
}
type Pod = string | { image: string; replicas: number };
interface Imported {
  name: string;
  registry: { preset: string; catalog?: { images: CatalogImage[] } };
  registries?: Array<{ host: string; preset: string; catalog?: { images: CatalogImage[] } }>;
  images: ScenarioImage[];
  fleet: { nodes: number; runtime: string; pods: Pod[] };
  workload: Array<Record<string, unknown>>;
  designs: Array<Record<string, unknown>>;
  expectations?: unknown;
}

const imported = (...files: string[]) => {
  const result = importScenario(inputs(...files));
  return { ...result, scenario: parse(result.yaml) as Imported };
};

/** The tags a registry's catalog has for a repository (Docker Hub: built-in ones too, replaced by an entry). */
function catalogTags(s: Imported, registry: string, repository: string): string[] {
  if (registry === "docker.io") {
    const entry = s.registry.catalog?.images.find((i) => i.name === repository);
    if (entry) return entry.tags;
    return Object.keys(BUILTIN_IMAGES.find((b) => b.name === repository)?.tags ?? {});
  }
  const origin = s.registries?.find((r) => r.host === registry);
  return origin?.catalog?.images.find((i) => i.name === repository)?.tags ?? [];
}

/** The scenario's image for an inventory image: same registry and repository, the tag (or digest's tag). */
function scenarioImage(s: Imported, text: string): ScenarioImage {
  const ref = parseImageReference(text);
  if ("error" in ref) throw new Error(ref.error);
  const found = s.images.find((i) => {
    const r = parseImageReference(i.ref);
    return (
      !("error" in r) &&
      r.registry === ref.registry &&
      r.repository === ref.repository &&
      (ref.tag !== undefined
        ? r.tag === ref.tag
        : r.tag === `sha256-${ref.digest?.slice(7, 19)}`) &&
      Boolean(i.pinned) === Boolean(ref.digest)
    );
  });
  if (!found) throw new Error(`no image for ${text} in ${s.images.map((i) => i.ref).join(", ")}`);
  return found;
}

const podOf = (s: Imported, image: string) =>
  s.fleet.pods.filter((p) => (typeof p === "string" ? p : p.image) === image);

describe("scenario import: the scenario for what a cluster pulls", () => {
  for (const files of [[KUBECTL], [HELM], [KUBECTL, HELM]]) {
    const label = files.join(" + ");

    it(`${label}: pure, same input gives byte-identical YAML`, () => {
      const a = importScenario(inputs(...files));
      const b = importScenario(inputs(...files));
      expect(b.yaml).toBe(a.yaml);
      expect(b.notes).toEqual(a.notes);
      expect(importScenario(inputs(...files), { name: "shop" }).yaml).toMatch(/^name: shop$/m);
    });

    it(`${label}: every image, registry and pull policy of the inventory, with its catalog entry`, () => {
      const inv = inventoryFrom(...files);
      const { scenario: s } = imported(...files);
      expect(s.images).toHaveLength(inv.images.length);
      expect(new Set(s.images.map((i) => i.name)).size).toBe(s.images.length);
      for (const use of inv.images) {
        const image = scenarioImage(s, use.text);
        const ref = parseImageReference(image.ref);
        if ("error" in ref) throw new Error(ref.error);
        // Every pulled image says its pull policy.
        if (use.pullPolicies.some((p) => p !== "Never")) expect(image.pullPolicy).toBeDefined();
        // No digest in the scenario's ref: the fake registry cannot serve the cluster's.
        expect(ref.digest).toBeUndefined();
        expect(catalogTags(s, ref.registry, ref.repository)).toContain(ref.tag);
        // The pull policy the pods run with: written, else Kubernetes' default for the ref.
        const pulled = use.pullPolicies.filter((p) => p !== "Never");
        const expected = pulled.includes("Always") ? "Always" : "IfNotPresent";
        expect(image.pullPolicy ?? defaultPullPolicy(ref), use.text).toBe(expected);
        expect(Boolean(image.pullSecret), use.text).toBe(use.authenticated);
      }
      const hosts = [...new Set(inv.images.map((i) => i.ref.registry))].filter(
        (r) => r !== "docker.io",
      );
      expect(s.registries?.map((r) => r.host)).toEqual(hosts);
      for (const r of s.registries ?? []) expect(r.preset).toBe(presetForRegistry(r.host));
      expect(s.registry.preset).toBe("dockerhub-current");
    });

    it(`${label}: passes the scenario validation (readScenario)`, async () => {
      const { yaml } = importScenario(inputs(...files));
      await inTempDir("ps-import-", (tmp) => {
        const file = fileIn(tmp, "fleet.yaml", yaml);
        const { scenario, warnings } = readScenario(file);
        expect(warnings).toEqual([]);
        expect(scenario.designs.map((d) => d.name)).toEqual([
          "as-is",
          "account-per-node",
          "docker-hub-mirror",
          "pinned-if-not-present",
        ]);
        expect(scenario.expectations).toEqual([]);
      });
    });
  }

  it("kubectl: nodes, runtime, DaemonSets by name, Deployments as replicas, workload defaults", () => {
    const { scenario: s, yaml } = imported(KUBECTL);
    expect(s.name).toBe("imported-fleet");
    expect(s.fleet).toMatchObject({ nodes: 6, runtime: "containerd" });
    expect(yaml).toContain("# 6 nodes: containerd 1.7.22; pools general 4, gpu 2.");
    // DaemonSets on every node: a bare name (new nodes run them too).
    for (const ds of ["kube-proxy", "fluent-bit", "amazon-k8s-cni", "amazon-k8s-cni-init"])
      expect(podOf(s, ds)).toEqual([ds]);
    expect(podOf(s, "web")).toEqual([{ image: "web", replicas: 3 }]);
    expect(podOf(s, "api")).toEqual([{ image: "api", replicas: 2 }]);
    expect(podOf(s, "postgres")).toEqual([{ image: "postgres", replicas: 1 }]);
    expect(podOf(s, "report")).toEqual([{ image: "report", replicas: 1 }]);
    expect(yaml).toMatch(/# web, 3 pods: Deployment shop\/web: 3 pods, from pods counted/);
    expect(s.workload).toEqual([
      { type: "node-churn", at: "15m", over: "20m", nodes: 6 },
      { type: "scale-up", at: "60m", over: "10m", nodes: 3 },
      { type: "rolling-restart", at: "90m", over: "10m", image: "web" },
    ]);
    expect(s.designs).toEqual([
      expect.objectContaining({ name: "as-is", auth: "anonymous", egressIps: 1 }),
      expect.objectContaining({
        name: "account-per-node",
        auth: "account-per-actor",
        plan: "free",
      }),
      expect.objectContaining({
        name: "docker-hub-mirror",
        auth: "anonymous",
        mirror: { enabled: true, flavour: "distribution-2.8", upstreamAuth: true },
      }),
      expect.objectContaining({
        name: "pinned-if-not-present",
        pin: "digest",
        pullPolicy: "IfNotPresent",
      }),
    ]);
    expect(s.expectations).toBeUndefined();
    expect(yaml).toMatch(/# No expectations yet: add them once you know what must hold/);
  });

  it("kubectl: a digest-pinned image gets a tag in the catalog and pinned: true, the real digest in a comment", () => {
    const { scenario: s, yaml } = imported(KUBECTL);
    const digest = `sha256:${"4f".repeat(32)}`;
    const web = s.images.find((i) => i.name === "web");
    expect(web).toEqual({
      name: "web",
      ref: "ghcr.io/acme/web:sha256-4f4f4f4f4f4f",
      pullPolicy: "IfNotPresent",
      pullSecret: true,
      pinned: true,
    });
    expect(catalogTags(s, "ghcr.io", "acme/web")).toEqual(["sha256-4f4f4f4f4f4f"]);
    expect(yaml).toContain(`# The cluster pins it by digest:\n  # ${digest}.`);
  });

  it("kubectl: pull secrets, every image's pull policy written (the manifests', or Kubernetes' default)", () => {
    const { scenario: s } = imported(KUBECTL);
    const byName = Object.fromEntries(s.images.map((i) => [i.name, i]));
    for (const n of ["api", "envoy", "busybox", "web"]) expect(byName[n]?.pullSecret).toBe(true);
    for (const n of ["netshoot", "postgres", "kube-proxy"])
      expect(byName[n]?.pullSecret).toBeUndefined();
    // Every image says how its pods pull: acme/api:latest Always (as written), postgres:16.4 IfNotPresent.
    expect(
      s.images.every((i) => i.pullPolicy === "Always" || i.pullPolicy === "IfNotPresent"),
    ).toBe(true);
    expect(byName.api?.pullPolicy).toBe("Always");
    expect(byName.postgres?.pullPolicy).toBe("IfNotPresent");
    expect(byName.netshoot?.ref).toBe("nicolaka/netshoot:latest");
    expect(byName.busybox?.ref).toBe("busybox:1.36");
  });

  it("kubectl: registries with their presets, unthrottled ones said so; Docker Hub's catalog keeps built-in tags", () => {
    const { scenario: s, yaml } = imported(KUBECTL);
    expect(Object.fromEntries((s.registries ?? []).map((r) => [r.host, r.preset]))).toEqual({
      "602401143452.dkr.ecr.us-east-1.amazonaws.com": "unlimited",
      "cr.fluentbit.io": "unlimited",
      "ghcr.io": "ghcr",
      "quay.io": "quay",
      "us-docker.pkg.dev": "artifact-registry",
    });
    expect(yaml).toMatch(
      /# cr\.fluentbit\.io: preset unlimited, unthrottled: no preset for this registry/,
    );
    expect(yaml).toMatch(/# ghcr\.io: preset ghcr\. GitHub Container Registry/);
    // busybox:1.36 and postgres:16.4: built-in repositories without the tag, entries replacing them.
    expect(s.registry.catalog?.images).toEqual([
      { name: "acme/api", tags: ["latest"] },
      { name: "envoyproxy/envoy", tags: ["v1.31.2"] },
      { name: "library/busybox", tags: ["latest", "1.36"] },
      { name: "library/postgres", tags: ["16", "latest", "16.4"] },
      { name: "nicolaka/netshoot", tags: ["latest"] },
    ]);
    expect(yaml.startsWith("# imported-fleet: imported by `pullstorm scenario import` from")).toBe(
      true,
    );
  });

  it("helm template: no nodes (3 assumed, said so), a digest with a tag keeps the tag, notes in the header", () => {
    const { scenario: s, yaml, notes } = imported(HELM);
    expect(s.fleet.nodes).toBe(3);
    expect(yaml).toMatch(/# No nodes in the input \(helm template or manifests\): 3 assumed/);
    expect(notes).toEqual(
      expect.arrayContaining([
        "skipped 1 ConfigMap object: no pods to pull for",
        "no nodes in the input: 3 assumed (fleet.nodes)",
      ]),
    );
    for (const n of notes) expect(yaml).toContain(`# - ${n.split(" ").slice(0, 4).join(" ")}`);
    expect(s.images.find((i) => i.name === "shop-web")).toEqual({
      name: "shop-web",
      ref: "quay.io/acme/shop-web:1.4.2",
      pullPolicy: "IfNotPresent",
      pullSecret: true,
      pinned: true,
    });
    // registry.k8s.io/kubectl:v1.30.4 written Always: not its default, so written.
    expect(s.images.find((i) => i.name === "kubectl")?.pullPolicy).toBe("Always");
    expect(podOf(s, "shop-web")).toEqual([{ image: "shop-web", replicas: 6 }]);
    expect(podOf(s, "kubectl")).toEqual([{ image: "kubectl", replicas: 2 }]);
    expect(s.workload.at(-1)).toEqual({
      type: "rolling-restart",
      at: "90m",
      over: "10m",
      image: "shop-web",
    });
    expect(s.workload[1]).toMatchObject({ type: "scale-up", nodes: 1 });
  });

  it("kubectl + helm: a DaemonSet on some nodes as replicas (scale-up nodes will not run it), names made unique", () => {
    const { scenario: s, yaml } = imported(KUBECTL, HELM);
    expect(podOf(s, "k8s-device-plugin")).toEqual([{ image: "k8s-device-plugin", replicas: 2 }]);
    expect(yaml).toMatch(/nodes added by scale-up\s+(# )?will not run it/);
    // busybox: api's init container (2) and shop-web's (6), one entry.
    expect(podOf(s, "busybox")).toEqual([{ image: "busybox", replicas: 8 }]);
    // postgres on Docker Hub and on public.ecr.aws.
    expect(s.images.filter((i) => i.name.startsWith("postgres")).map((i) => i.name)).toEqual([
      "postgres",
      "postgres-public",
    ]);
  });

  it("pull policies: Never is left out of pods, disagreement picks Always, scaled-to-0 workloads skipped", () => {
    const deployment = (name: string, replicas: number, containers: unknown[]) => ({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name, namespace: "app" },
      spec: { replicas, template: { spec: { containers } } },
    });
    const text = JSON.stringify({
      kind: "List",
      items: [
        deployment("a", 2, [{ name: "c", image: "nginx:1.25", imagePullPolicy: "Always" }]),
        deployment("b", 3, [{ name: "c", image: "nginx:1.25" }]),
        deployment("c", 1, [{ name: "c", image: "redis:7", imagePullPolicy: "Never" }]),
        deployment("d", 0, [{ name: "c", image: "alpine:3.20" }]),
      ],
    });
    const { yaml, notes } = importScenario([{ text, source: "app.json" }], { name: "app" });
    const s = parse(yaml) as Imported;
    expect(s.images.find((i) => i.name === "nginx")?.pullPolicy).toBe("Always");
    expect(notes.join("\n")).toMatch(/nginx:1\.25: its containers disagree on imagePullPolicy/);
    expect(s.fleet.pods).toEqual([{ image: "nginx", replicas: 5 }]);
    expect(notes.join("\n")).toMatch(/redis:7: imagePullPolicy Never, not pulled/);
    expect(notes.join("\n")).toMatch(/Deployment app\/d: no pods/);
    // nginx:1.25, redis:7 and alpine:3.20 are built in: no catalog entry needed.
    expect(s.registry.catalog).toBeUndefined();
    expect(s.registries).toBeUndefined();
  });

  it("kubectl get ds -o yaml without nodes: the fleet's size from a DaemonSet's status; one image in two containers pulled once per pod", () => {
    const text = [
      "apiVersion: v1",
      "kind: List",
      "items:",
      "  - apiVersion: apps/v1",
      "    kind: DaemonSet",
      "    metadata: {name: kube-proxy, namespace: kube-system}",
      "    spec:",
      "      template:",
      "        spec:",
      "          containers: [{name: kube-proxy, image: 'registry.k8s.io/kube-proxy:v1.30.4'}]",
      "    status: {desiredNumberScheduled: 40}",
      "  - apiVersion: apps/v1",
      "    kind: Deployment",
      "    metadata: {name: api, namespace: app}",
      "    spec:",
      "      replicas: 12",
      "      template:",
      "        spec:",
      "          containers:",
      "            - {name: api, image: 'nginx:1.25', imagePullPolicy: Always}",
      "            - {name: side, image: 'nginx:1.25'}",
      "",
    ].join("\n");
    const { yaml, notes } = importScenario([{ text, source: "workloads.yaml" }]);
    const s = parse(yaml) as Imported;
    expect(s.fleet.nodes).toBe(40);
    expect(notes).toContain(
      "no nodes in the input: 40, from DaemonSet kube-system/kube-proxy's status.desiredNumberScheduled (fleet.nodes)",
    );
    expect(s.fleet.pods).toEqual([{ image: "nginx", replicas: 12 }, "kube-proxy"]);
    expect(s.images.find((i) => i.name === "nginx")?.pullPolicy).toBe("Always");
    expect(s.workload.map((w) => w.type)).toEqual(["node-churn", "scale-up", "rolling-restart"]);
    expect(s.workload[1]).toMatchObject({ nodes: 20 });
  });

  it("input without images is refused, naming it", () => {
    expect(() =>
      importScenario([{ text: "kind: ConfigMap\nmetadata: {name: x}\n", source: "cm.yaml" }]),
    ).toThrow(KubernetesInputError);
    expect(() => importScenario([{ text: "{}", source: "empty.json" }])).toThrow(
      /^empty\.json: no pods or workloads with images/,
    );
    expect(() => importScenario(inputs(KUBECTL), { name: "Not A Name" })).toThrow(
      /not a scenario name/,
    );
  });
});

describe("importScenario from the package", () => {
  it("reads back with parseScenario; bad input throws KubernetesInputError naming it", async () => {
    const lib = await import("../index.ts");
    const { yaml } = lib.importScenario([{ text: read(KUBECTL), source: KUBECTL }], {
      name: "from-lib",
    });
    const scenario = lib.parseScenario(yaml, "from-lib.yaml");
    expect(scenario.name).toBe("from-lib");
    expect(scenario.registries.map((r) => r.host)).toContain("ghcr.io");
    expect(() => lib.importScenario([{ text: "{", source: "cluster.json" }])).toThrow(
      lib.KubernetesInputError,
    );
  });
});

describe("pullstorm scenario import (the CLI)", () => {
  it("reads stdin (-) and writes -o atomically, notes on stderr", async () => {
    await inTempDir("ps-import-cli-", async (tmp) => {
      const out = join(tmp, "fleet.yaml");
      const stdin = openSync(join(dir, KUBECTL), "r");
      try {
        const r = await pullstorm(["scenario", "import", "-", "--name", "shop", "-o", out], {
          stdio: [stdin, "pipe", "pipe"],
        });
        expect(r.stderr).toContain(`pullstorm: wrote ${out}`);
        expect(r.status, r.stderr).toBe(0);
        expect(r.stdout).toBe("");
      } finally {
        closeSync(stdin);
      }
      expect(readFileSync(out, "utf8")).toBe(
        importScenario([{ text: read(KUBECTL), source: "stdin" }], { name: "shop" }).yaml,
      );
      expect(readdirSync(tmp)).toEqual(["fleet.yaml"]);
      const validated = await pullstorm(["scenario", "validate", out]);
      expect(validated.stdout, validated.stderr).toContain("ok (shop, 4 designs");
    });
  });

  it("several files read as one cluster, to stdout; notes as pullstorm: note:", async () => {
    const r = await pullstorm(["scenario", "import", join(dir, KUBECTL), join(dir, HELM)]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(
      importScenario([
        { text: read(KUBECTL), source: join(dir, KUBECTL) },
        { text: read(HELM), source: join(dir, HELM) },
      ]).yaml,
    );
    expect(r.stderr).toContain("pullstorm: note: skipped 1 ConfigMap object: no pods to pull for");
  });

  it("an imported scenario with other registries is refused by run --target before anything starts", async () => {
    await inTempDir("ps-import-target-", async (tmp) => {
      const fleet = join(tmp, "fleet.yaml");
      expect(
        (await pullstorm(["scenario", "import", join(dir, KUBECTL), "-o", fleet])).status,
      ).toBe(0);
      const out = join(tmp, "results");
      const r = await pullstorm(["run", fleet, "--target", "http://127.0.0.1:9", "--out", out]);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain("pullstorm: --target stands for Docker Hub's registry");
      expect(r.stdout).toBe("");
      expect(r.stderr).not.toContain("live (");
      expect(existsSync(out)).toBe(false);
    });
  });

  it("bad input names the file, exits 2 and leaves -o alone", async () => {
    await inTempDir("ps-import-bad-", async (tmp) => {
      const bad = fileIn(tmp, "cluster.json", '{"kind": "List", "items": [');
      const out = join(tmp, "fleet.yaml");
      const r = await pullstorm(["scenario", "import", bad, "-o", out]);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(`pullstorm: ${bad}: not valid JSON`);
      expect(existsSync(out)).toBe(false);

      const yamlBad = fileIn(tmp, "chart.yaml", "kind: Pod\nspec: [\n");
      const kept = fileIn(tmp, "kept.yaml", "name: before\n");
      const y = await pullstorm(["scenario", "import", join(dir, HELM), yamlBad, "-o", kept]);
      expect(y.status).toBe(2);
      expect(y.stderr).toMatch(new RegExp(`pullstorm: ${yamlBad}:\\d+: not valid YAML`));
      expect(readFileSync(kept, "utf8")).toBe("name: before\n");

      const missing = await pullstorm(["scenario", "import", join(tmp, "nope.json"), "-o", out]);
      expect(missing.status).toBe(2);
      expect(missing.stderr).toContain(`${join(tmp, "nope.json")}: cannot read (ENOENT)`);
      expect(existsSync(out)).toBe(false);
      expect(readdirSync(tmp).sort()).toEqual(["chart.yaml", "cluster.json", "kept.yaml"]);
    });
  });
});

describe("from kubectl to a verdict in three commands (docs/scenarios.md)", () => {
  /** The README's pipeline as a shell runs it, `kubectl ...` replaced by the fixture. */
  const threeCommands = (fixture: string, tmp: string) =>
    runCommand(
      "sh",
      [
        "-c",
        `set -e
cat "$FIXTURE" | "$NODE" "$BIN" scenario import - > fleet.yaml
"$NODE" "$BIN" scenario validate fleet.yaml
"$NODE" "$BIN" run fleet.yaml --virtual --out results`,
      ],
      {
        cwd: tmp,
        env: { ...process.env, FIXTURE: join(dir, fixture), NODE: process.execPath, BIN },
        timeoutMs: 240_000,
      },
    );
  const reportOf = (tmp: string) =>
    JSON.parse(readFileSync(join(tmp, "results", "report.json"), "utf8")) as {
      designs: Array<{ name: string; verdict: string; upstream: { pulls: number } }>;
    };

  it("kubectl get nodes,pods -A -o json: imported, valid, run; every image, registry and pull policy listed", async () => {
    await inTempDir("ps-import-e2e-", async (tmp) => {
      const r = await threeCommands(KUBECTL, tmp);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain("fleet.yaml: ok (imported-fleet, 4 designs");
      const scenario = parse(readFileSync(join(tmp, "fleet.yaml"), "utf8")) as Imported;
      const inv = inventoryFrom(KUBECTL);
      const hosts = new Set((scenario.registries ?? []).map((x) => x.host));
      for (const use of inv.images) {
        if (use.ref.registry !== "docker.io") expect(hosts, use.text).toContain(use.ref.registry);
        if (use.pullPolicies.every((p) => p === "Never")) continue;
        const image = scenario.images.find((i) => sameImage(i.ref, use.text));
        expect(image, use.text).toBeDefined();
      }
      // A small cluster: every design holds, each pulled what the fleet runs.
      const report = reportOf(tmp);
      expect(report.designs.map((d) => [d.name, d.verdict])).toEqual([
        ["as-is", "holds"],
        ["account-per-node", "holds"],
        ["docker-hub-mirror", "holds"],
        ["pinned-if-not-present", "holds"],
      ]);
      expect(report.designs.every((d) => d.upstream.pulls > 0)).toBe(true);
    });
  });

  it("kubectl get deploy,ds,sts,cronjobs -A -o yaml of 40 nodes: behind one NAT the Docker Hub DaemonSets break it; accounts or a mirror hold", async () => {
    await inTempDir("ps-import-e2e-", async (tmp) => {
      const r = await threeCommands("kubectl-workloads-40-nodes.yaml", tmp);
      expect(r.status, r.stderr).toBe(0);
      const scenario = parse(readFileSync(join(tmp, "fleet.yaml"), "utf8")) as Imported;
      expect(scenario.fleet.nodes).toBe(40);
      // calico/node, calico/cni (init), prom/node-exporter and grafana/promtail on every node, from
      // Docker Hub: 4 anonymous pulls per cold node against 100 per 6 h for the NAT address.
      const everyNode = scenario.fleet.pods.filter((p): p is string => typeof p === "string");
      const refOf = (name: string) => scenario.images.find((i) => i.name === name)?.ref ?? "";
      const hub = everyNode.filter((name) => {
        const ref = parseImageReference(refOf(name));
        return !("error" in ref) && ref.registry === "docker.io";
      });
      expect(hub.sort()).toEqual(["cni", "node", "node-exporter", "promtail"]);
      const verdicts = Object.fromEntries(reportOf(tmp).designs.map((d) => [d.name, d.verdict]));
      expect(verdicts).toEqual({
        "as-is": "breaks",
        "account-per-node": "holds",
        "docker-hub-mirror": "holds",
        // Pins and IfNotPresent do not make a cold node's pulls fewer.
        "pinned-if-not-present": "breaks",
      });
      expect(r.stdout).toMatch(/as-is\s+breaks\s+\d+m\d+s registry-quota/);
    });
  });
});

/** The scenario's reference names the input's image (registry, repository; tag, or the pinned digest's made-up tag). */
function sameImage(scenarioRef: string, inputText: string): boolean {
  const a = parseImageReference(scenarioRef);
  const b = parseImageReference(inputText);
  if ("error" in a || "error" in b) return false;
  if (a.registry !== b.registry || a.repository !== b.repository) return false;
  if (b.tag && !b.digest) return a.tag === b.tag;
  return a.tag === (b.tag ?? `sha256-${b.digest?.slice(7, 19)}`);
}
