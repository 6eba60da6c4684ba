// What a cluster pulls, read from kubectl and Helm output (simulator/scenario/kubernetes.ts):
// the fixtures are written as kubectl 1.30 and helm 3 print them (test/fixtures/kubernetes).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  type Inventory,
  inventoryOf,
  KubernetesInputError,
  presetForRegistry,
  readKubernetesObjects,
  runtimeOf,
} from "../simulator/scenario/kubernetes.ts";
import { defaultPullPolicy, parseImageReference } from "../vocabulary/oci/reference.ts";

const dir = join(import.meta.dirname, "fixtures", "kubernetes");
const read = (file: string) => readFileSync(join(dir, file), "utf8");
const inventoryFrom = (...files: string[]): Inventory =>
  inventoryOf(files.flatMap((f) => readKubernetesObjects(read(f), f)));
const image = (inv: Inventory, text: string) => {
  const found = inv.images.find((i) => i.text === text);
  if (!found) throw new Error(`no image ${text} in ${inv.images.map((i) => i.text).join(", ")}`);
  return found;
};

describe("reading kubectl and Helm output", () => {
  it("kubectl get nodes,pods -A -o json: nodes with runtime, version and pool", () => {
    const inv = inventoryFrom("kubectl-nodes-pods.json");
    expect(inv.nodes).toHaveLength(6);
    expect(new Set(inv.nodes.map((n) => n.runtime))).toEqual(new Set(["containerd"]));
    expect(new Set(inv.nodes.map((n) => n.runtimeVersion))).toEqual(new Set(["1.7.22"]));
    const pools = inv.nodes.reduce<Record<string, number>>((m, n) => {
      m[n.pool] = (m[n.pool] ?? 0) + 1;
      return m;
    }, {});
    expect(pools).toEqual({ general: 4, gpu: 2 });
  });

  it("pods grouped by their controller: DaemonSets on every node, Deployments by their ReplicaSet", () => {
    const inv = inventoryFrom("kubectl-nodes-pods.json");
    const byKey = Object.fromEntries(
      inv.workloads.map((w) => [`${w.kind}/${w.namespace}/${w.name}`, w]),
    );
    expect(byKey["DaemonSet/kube-system/kube-proxy"]?.pods).toBe(6);
    expect(byKey["DaemonSet/logging/fluent-bit"]?.pods).toBe(6);
    expect(byKey["Deployment/shop/web"]?.pods).toBe(3);
    expect(byKey["Deployment/shop/api"]?.pods).toBe(2);
    expect(byKey["StatefulSet/shop/postgres"]?.pods).toBe(1);
    // A finished Job's pod of a CronJob: named for its CronJob.
    expect(byKey["CronJob/shop/report"]?.pods).toBe(1);
    expect(byKey["Pod/monitoring/node-exporter-debug"]?.pods).toBe(1);
  });

  it("every image with its registry, tag or digest, pull policy (defaults applied), init use and secrets", () => {
    const inv = inventoryFrom("kubectl-nodes-pods.json");
    const registries = [...new Set(inv.images.map((i) => i.ref.registry))].sort();
    expect(registries).toEqual([
      "602401143452.dkr.ecr.us-east-1.amazonaws.com",
      "cr.fluentbit.io",
      "docker.io",
      "ghcr.io",
      "quay.io",
      "us-docker.pkg.dev",
    ]);
    const web = image(inv, `ghcr.io/acme/web@sha256:${"4f".repeat(32)}`);
    expect(web.ref.digest).toBe(`sha256:${"4f".repeat(32)}`);
    expect(web.pullPolicies).toEqual(["IfNotPresent"]);
    expect(web.authenticated).toBe(true);
    expect(web.pods).toBe(3);
    const api = image(inv, "acme/api:latest");
    expect(api.ref).toMatchObject({ registry: "docker.io", repository: "acme/api", tag: "latest" });
    expect(api.pullPolicies).toEqual(["Always"]);
    // No tag: latest, so Always by Kubernetes' default.
    const netshoot = image(inv, "nicolaka/netshoot");
    expect(netshoot.ref.tag).toBe("latest");
    expect(netshoot.pullPolicies).toEqual(["Always"]);
    expect(netshoot.authenticated).toBe(false);
    const busybox = image(inv, "busybox:1.36");
    expect(busybox.init).toBe(true);
    expect(busybox.ref.repository).toBe("library/busybox");
    expect(busybox.pullPolicies).toEqual(["IfNotPresent"]);
    expect(image(inv, "cr.fluentbit.io/fluent/fluent-bit:3.1.7").pods).toBe(6);
  });

  it("helm template output: kinds without pods skipped with a note, replicas and parallelism defaulted", () => {
    const inv = inventoryFrom("kubectl-nodes-pods.json", "helm-template.yaml");
    expect(inv.notes).toEqual(
      expect.arrayContaining([
        "skipped 1 ConfigMap object: no pods to pull for",
        "skipped 1 Service object: no pods to pull for",
        "skipped 1 ServiceAccount object: no pods to pull for",
      ]),
    );
    const byKey = Object.fromEntries(
      inv.workloads.map((w) => [`${w.kind}/${w.namespace}/${w.name}`, w]),
    );
    // The GPU pool's two nodes, by its nodeSelector.
    expect(byKey["DaemonSet/kube-system/nvidia-device-plugin"]).toMatchObject({
      pods: 2,
      nodeSelector: { workload: "gpu" },
    });
    expect(byKey["Deployment/shop/shop-web"]).toMatchObject({
      pods: 6,
      pullSecrets: ["quay-robot"],
    });
    expect(byKey["Deployment/shop/shop-worker"]).toMatchObject({
      pods: 1,
      podsFrom: "replicas (default 1)",
    });
    expect(byKey["CronJob/shop/shop-cleanup"]?.pods).toBe(2);
    expect(byKey["Job/shop/shop-migrate"]?.pods).toBe(1);
    // A tag and a digest: the digest is what is pulled.
    const web = inv.images.find((i) => i.ref.repository === "acme/shop-web");
    expect(web?.ref).toMatchObject({ registry: "quay.io", tag: "1.4.2" });
    expect(web?.ref.digest).toMatch(/^sha256:/);
    expect(image(inv, "prom/statsd-exporter").pullPolicies).toEqual(["Always"]);
    expect(image(inv, "registry.k8s.io/kubectl:v1.30.4").pullPolicies).toEqual(["Always"]);
    // busybox: the api pods' init container and shop-web's, one image.
    expect(image(inv, "busybox:1.36").workloads).toEqual([
      "Deployment/shop/api",
      "Deployment/shop/shop-web",
    ]);
  });

  it("is a pure function of its input: the same text gives the same inventory", () => {
    const a = inventoryFrom("helm-template.yaml", "kubectl-nodes-pods.json");
    const b = inventoryFrom("helm-template.yaml", "kubectl-nodes-pods.json");
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
  });

  it("bad input says what and where", () => {
    expect(() => readKubernetesObjects('{"kind": "List", "items": [', "cluster.json")).toThrow(
      KubernetesInputError,
    );
    expect(() => readKubernetesObjects('{"kind": "List", "items": [', "cluster.json")).toThrow(
      /^cluster\.json: not valid JSON/,
    );
    expect(() => readKubernetesObjects("kind: Pod\nspec: [\n", "chart.yaml")).toThrow(
      /^chart\.yaml(:\d+)?: not valid YAML \(document 1\)/,
    );
    // Missing fields are defaulted, bad images noted, nothing thrown.
    const inv = inventoryOf(
      readKubernetesObjects(
        "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: a\n    - name: b\n      image: 'Bad Image'\n",
        "pods.yaml",
      ),
    );
    expect(inv.images).toEqual([]);
    expect(inv.notes.join("\n")).toMatch(/container a has no image/);
    expect(inv.notes.join("\n")).toMatch(/container b: .*Bad Image/);
  });
});

describe("Kubernetes' defaults and the registries' presets", () => {
  it("containerRuntimeVersion names the runtime", () => {
    expect(runtimeOf("containerd://1.7.22")).toEqual({ runtime: "containerd", version: "1.7.22" });
    expect(runtimeOf("cri-o://1.30.2")).toEqual({ runtime: "cri-o", version: "1.30.2" });
    expect(runtimeOf("docker://20.10.25")).toEqual({ runtime: "dockerd", version: "20.10.25" });
  });

  it("imagePullPolicy defaults to Always for :latest or no tag, IfNotPresent otherwise", () => {
    const policy = (t: string) => {
      const r = parseImageReference(t);
      if ("error" in r) throw new Error(r.error);
      return defaultPullPolicy(r);
    };
    expect(policy("nginx")).toBe("Always");
    expect(policy("nginx:latest")).toBe("Always");
    expect(policy("nginx:1.27")).toBe("IfNotPresent");
    expect(policy(`nginx@sha256:${"a".repeat(64)}`)).toBe("IfNotPresent");
  });

  it("each known registry maps to its preset, others are unthrottled", () => {
    expect(presetForRegistry("docker.io")).toBe("dockerhub-current");
    expect(presetForRegistry("ghcr.io")).toBe("ghcr");
    expect(presetForRegistry("quay.io")).toBe("quay");
    expect(presetForRegistry("public.ecr.aws")).toBe("ecr-public");
    expect(presetForRegistry("registry.k8s.io")).toBe("registry-k8s-io");
    expect(presetForRegistry("europe-west1-docker.pkg.dev")).toBe("artifact-registry");
    expect(presetForRegistry("cr.fluentbit.io")).toBe("unlimited");
  });
});
