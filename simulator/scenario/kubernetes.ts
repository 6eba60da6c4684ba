/**
 * What a cluster pulls, read from Kubernetes output as kubectl and Helm write it
 * (`kubectl get nodes,pods -A -o json`, `kubectl get deploy,ds,sts,jobs,cronjobs -A -o yaml`,
 * `helm template`, plain manifests): the nodes (runtime and version, pools), the
 * workloads (kind, replicas or the nodes a DaemonSet covers, pull secrets) and every
 * image with its registry, tag or digest and pull policy, Kubernetes' defaults applied.
 *
 * A pure function of its input: it never contacts a cluster or a registry. What it
 * does not understand (other kinds, fields missing) it skips or defaults as Kubernetes
 * does, and says so in `notes`. The first part of `pullstorm scenario import` (issue 18).
 */
import { parseAllDocuments } from "yaml";
import {
  defaultPullPolicy,
  formatImage,
  type ImageReference,
  parseImageReference,
} from "../../vocabulary/oci/reference.ts";
import type { RuntimeModel } from "../client/runtimes.ts";

/** The runtimes the simulator models (its client quirks are in client/runtimes.ts). */
export type Runtime = RuntimeModel["name"];
export type PullPolicy = "Always" | "IfNotPresent" | "Never";

export interface NodeInfo {
  name: string;
  runtime: Runtime;
  /** As nodeInfo.containerRuntimeVersion gives it, e.g. 1.7.12; "" when not said. */
  runtimeVersion: string;
  /** The node pool: the first pool label present, else "default". */
  pool: string;
  labels: Record<string, string>;
}

export interface ContainerUse {
  container: string;
  init: boolean;
  image: string;
  pullPolicy: PullPolicy;
  /** The pull policy was written in the input (false: Kubernetes' default applied). */
  policyGiven: boolean;
}

export interface Workload {
  kind: string;
  namespace: string;
  name: string;
  /** Pods it runs: replicas, a DaemonSet's matching nodes, pods counted in the input. */
  pods: number;
  /** Where `pods` came from, for the scenario's comments. */
  podsFrom: string;
  nodeSelector: Record<string, string>;
  pullSecrets: string[];
  containers: ContainerUse[];
}

export interface ImageUse {
  /** As written in the pod spec. */
  text: string;
  ref: ImageReference;
  pullPolicies: PullPolicy[];
  /** Workloads (kind/namespace/name) that run it, and their pods in all. */
  workloads: string[];
  pods: number;
  init: boolean;
  /** Some workload pulls it with imagePullSecrets (an account, not anonymous). */
  authenticated: boolean;
}

export interface Inventory {
  nodes: NodeInfo[];
  workloads: Workload[];
  /** One per distinct reference, sorted by registry then reference. */
  images: ImageUse[];
  /** What was skipped or defaulted, one line each. */
  notes: string[];
}

/** Labels that name a node's pool, most specific first (GKE, EKS, AKS, Karpenter, kOps, generic). */
export const POOL_LABELS = [
  "cloud.google.com/gke-nodepool",
  "eks.amazonaws.com/nodegroup",
  "kubernetes.azure.com/agentpool",
  "karpenter.sh/nodepool",
  "kops.k8s.io/instancegroup",
  "node.kubernetes.io/pool",
  "node-pool",
  "nodepool",
];

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const obj = (v: unknown): Obj => (isObj(v) ? v : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const strMap = (v: unknown): Record<string, string> =>
  Object.fromEntries(Object.entries(obj(v)).filter(([, x]) => typeof x === "string")) as Record<
    string,
    string
  >;

export class KubernetesInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KubernetesInputError";
  }
}

/**
 * The objects in one input: JSON (an object or a kubectl List) or YAML with any number
 * of documents (helm template). Lists are flattened; empty documents skipped.
 */
export function readKubernetesObjects(text: string, source: string): Obj[] {
  const trimmed = text.trimStart();
  let docs: unknown[];
  if (trimmed.startsWith("{") || trimmed.startsWith("[")) {
    try {
      docs = [JSON.parse(text)];
    } catch (error) {
      throw new KubernetesInputError(`${source}: not valid JSON: ${(error as Error).message}`);
    }
  } else {
    docs = [];
    for (const [i, doc] of parseAllDocuments(text).entries()) {
      if ("errors" in doc && doc.errors.length > 0) {
        const e = doc.errors[0];
        const line = e?.linePos?.[0]?.line;
        throw new KubernetesInputError(
          `${source}${line ? `:${line}` : ""}: not valid YAML (document ${i + 1}): ${(e?.message.split("\n")[0] ?? "").replace(/:\s*$/, "")}`,
        );
      }
      docs.push(doc.toJS());
    }
  }
  const out: Obj[] = [];
  const flatten = (d: unknown) => {
    if (Array.isArray(d)) d.forEach(flatten);
    else if (isObj(d)) {
      if (Array.isArray(d.items) && (str(d.kind)?.endsWith("List") || d.kind === undefined))
        d.items.forEach(flatten);
      else out.push(d);
    }
  };
  docs.forEach(flatten);
  return out;
}

/** "containerd://1.7.12" -> containerd 1.7.12; docker:// is dockerd. */
export function runtimeOf(version: string | undefined): { runtime: Runtime; version: string } {
  const m = /^([a-z-]+):\/\/v?(.*)$/.exec(version ?? "");
  const scheme = m?.[1] ?? "";
  const runtime: Runtime =
    scheme === "cri-o" ? "cri-o" : scheme === "docker" ? "dockerd" : "containerd";
  return { runtime, version: m?.[2] ?? "" };
}

interface PodSpecSource {
  kind: string;
  namespace: string;
  name: string;
  /** The pod spec (a template's for controllers). */
  spec: Obj;
  /** The whole object. */
  object: Obj;
}

function podSpecOf(o: Obj): Obj | undefined {
  const spec = obj(o.spec);
  switch (o.kind) {
    case "Pod":
      return spec;
    case "Deployment":
    case "StatefulSet":
    case "DaemonSet":
    case "ReplicaSet":
    case "Job":
    case "ReplicationController":
      return obj(obj(spec.template).spec);
    case "CronJob":
      return obj(obj(obj(obj(spec.jobTemplate).spec).template).spec);
    default:
      return undefined;
  }
}

/** The workload a pod belongs to: its controller, a ReplicaSet's Deployment by name. */
function ownerOf(pod: Obj): { kind: string; name: string } | undefined {
  const meta = obj(pod.metadata);
  const owner = arr(meta.ownerReferences)
    .map(obj)
    .find((r) => r.controller === true || arr(meta.ownerReferences).length === 1);
  if (!owner) return undefined;
  const kind = str(owner.kind) ?? "";
  const name = str(owner.name) ?? "";
  const hash = strMap(meta.labels)["pod-template-hash"];
  if (kind === "ReplicaSet" && hash && name.endsWith(`-${hash}`))
    return { kind: "Deployment", name: name.slice(0, -hash.length - 1) };
  // A CronJob's Job is named <cronjob>-<schedule time in minutes>.
  if (kind === "Job" && /-\d{8,}$/.test(name))
    return { kind: "CronJob", name: name.replace(/-\d{8,}$/, "") };
  return { kind, name };
}

const matches = (labels: Record<string, string>, selector: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

/** Reads every object given into one inventory. */
export function inventoryOf(objects: Obj[]): Inventory {
  const notes: string[] = [];
  const nodes: NodeInfo[] = [];
  const sources: PodSpecSource[] = [];
  /** Pods counted in the input, per owner workload key. */
  const podCounts = new Map<string, number>();
  const podOnly = new Map<string, PodSpecSource>();
  const skipped = new Map<string, number>();
  for (const o of objects) {
    const kind = str(o.kind) ?? "(no kind)";
    const meta = obj(o.metadata);
    const name = str(meta.name) ?? "(unnamed)";
    const namespace = str(meta.namespace) ?? "default";
    if (kind === "Node") {
      const info = obj(obj(o.status).nodeInfo);
      const { runtime, version } = runtimeOf(str(info.containerRuntimeVersion));
      if (!str(info.containerRuntimeVersion))
        notes.push(`node ${name}: no status.nodeInfo.containerRuntimeVersion, taken as containerd`);
      const labels = strMap(meta.labels);
      const poolLabel = POOL_LABELS.find((l) => labels[l] !== undefined);
      nodes.push({
        name,
        runtime,
        runtimeVersion: version,
        pool: poolLabel ? (labels[poolLabel] as string) : "default",
        labels,
      });
      continue;
    }
    const spec = podSpecOf(o);
    if (!spec) {
      skipped.set(kind, (skipped.get(kind) ?? 0) + 1);
      continue;
    }
    if (kind === "Pod") {
      const owner = ownerOf(o);
      const phase = str(obj(o.status).phase);
      if (phase === "Succeeded" || phase === "Failed") {
        // A finished Job's pod: its images were pulled, but it holds no node now.
        if (!owner) continue;
      }
      const key = owner ? `${owner.kind}/${namespace}/${owner.name}` : `Pod/${namespace}/${name}`;
      podCounts.set(key, (podCounts.get(key) ?? 0) + 1);
      if (!podOnly.has(key))
        podOnly.set(key, {
          kind: owner?.kind ?? "Pod",
          namespace,
          name: owner?.name ?? name,
          spec,
          object: o,
        });
      continue;
    }
    // A ReplicaSet a Deployment owns is the Deployment's.
    if (kind === "ReplicaSet" && arr(meta.ownerReferences).length > 0) continue;
    if (kind === "Job" && arr(meta.ownerReferences).some((r) => obj(r).kind === "CronJob"))
      continue;
    sources.push({ kind, namespace, name, spec, object: o });
  }
  for (const [kind, n] of [...skipped].sort())
    notes.push(`skipped ${n} ${kind} object${n === 1 ? "" : "s"}: no pods to pull for`);

  const workloads: Workload[] = [];
  const declared = new Set<string>();
  for (const s of sources) {
    const key = `${s.kind}/${s.namespace}/${s.name}`;
    declared.add(key);
    const spec = obj(s.object.spec);
    const nodeSelector = strMap(s.spec.nodeSelector);
    const counted = podCounts.get(key);
    let pods: number;
    let podsFrom: string;
    if (s.kind === "DaemonSet") {
      const covered = nodes.filter((n) => matches(n.labels, nodeSelector)).length;
      const status = obj(s.object.status).desiredNumberScheduled;
      if (nodes.length > 0) {
        pods = covered;
        podsFrom = `one per node matching its nodeSelector (${covered} of ${nodes.length} nodes)`;
      } else if (typeof status === "number") {
        pods = status;
        podsFrom = "status.desiredNumberScheduled";
      } else {
        pods = 1;
        podsFrom = "one per node (no nodes in the input: counted once)";
        notes.push(`DaemonSet ${s.namespace}/${s.name}: no nodes in the input to count it on`);
      }
    } else if (counted !== undefined) {
      pods = counted;
      podsFrom = "pods counted in the input";
    } else if (s.kind === "Job" || s.kind === "CronJob") {
      const jobSpec = s.kind === "CronJob" ? obj(obj(spec.jobTemplate).spec) : spec;
      const parallelism = jobSpec.parallelism;
      pods = typeof parallelism === "number" ? parallelism : 1;
      podsFrom = typeof parallelism === "number" ? "spec parallelism" : "parallelism (default 1)";
    } else {
      const replicas = spec.replicas;
      pods = typeof replicas === "number" ? replicas : 1;
      podsFrom = typeof replicas === "number" ? "spec.replicas" : "replicas (default 1)";
    }
    workloads.push(workloadOf(s, pods, podsFrom, nodeSelector, notes));
  }
  // Pods whose workload was not in the input: the pods themselves.
  for (const [key, s] of podOnly) {
    if (declared.has(key)) continue;
    const pods = podCounts.get(key) ?? 1;
    workloads.push(
      workloadOf(s, pods, "pods counted in the input", strMap(s.spec.nodeSelector), notes),
    );
  }
  workloads.sort((a, b) =>
    `${a.kind}/${a.namespace}/${a.name}`.localeCompare(`${b.kind}/${b.namespace}/${b.name}`),
  );

  const images = new Map<string, ImageUse>();
  for (const w of workloads)
    for (const c of w.containers) {
      const parsed = parseImageReference(c.image);
      if ("error" in parsed) continue;
      const key = formatImage(parsed);
      const use = images.get(key) ?? {
        text: c.image,
        ref: parsed,
        pullPolicies: [],
        workloads: [],
        pods: 0,
        init: false,
        authenticated: false,
      };
      if (!use.pullPolicies.includes(c.pullPolicy)) use.pullPolicies.push(c.pullPolicy);
      const wkey = `${w.kind}/${w.namespace}/${w.name}`;
      if (!use.workloads.includes(wkey)) {
        use.workloads.push(wkey);
        use.pods += w.pods;
      }
      use.init ||= c.init;
      use.authenticated ||= w.pullSecrets.length > 0;
      images.set(key, use);
    }
  const sortedImages = [...images.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([, v]) => ({ ...v, pullPolicies: v.pullPolicies.sort() }));
  nodes.sort((a, b) => a.name.localeCompare(b.name));
  return { nodes, workloads, images: sortedImages, notes };
}

function workloadOf(
  s: PodSpecSource,
  pods: number,
  podsFrom: string,
  nodeSelector: Record<string, string>,
  notes: string[],
): Workload {
  const containers: ContainerUse[] = [];
  for (const [field, init] of [
    ["initContainers", true],
    ["containers", false],
  ] as const)
    for (const c of arr(s.spec[field]).map(obj)) {
      const image = str(c.image);
      const cname = str(c.name) ?? "(unnamed)";
      if (!image) {
        notes.push(`${s.kind} ${s.namespace}/${s.name}: container ${cname} has no image, skipped`);
        continue;
      }
      const parsed = parseImageReference(image);
      if ("error" in parsed) {
        notes.push(`${s.kind} ${s.namespace}/${s.name}: container ${cname}: ${parsed.error}`);
        continue;
      }
      const given = str(c.imagePullPolicy);
      const policy: PullPolicy =
        given === "Always" || given === "IfNotPresent" || given === "Never"
          ? given
          : defaultPullPolicy(parsed);
      if (given && given !== policy)
        notes.push(
          `${s.kind} ${s.namespace}/${s.name}: container ${cname}: imagePullPolicy "${given}" unknown, Kubernetes' default ${policy} used`,
        );
      containers.push({
        container: cname,
        init,
        image,
        pullPolicy: policy,
        policyGiven: policy === given,
      });
    }
  const pullSecrets = arr(s.spec.imagePullSecrets)
    .map((x) => str(obj(x).name))
    .filter((x): x is string => Boolean(x));
  return {
    kind: s.kind,
    namespace: s.namespace,
    name: s.name,
    pods,
    podsFrom,
    nodeSelector,
    pullSecrets,
    containers,
  };
}

/** The throttling preset of each registry pullstorm knows; others are unthrottled. */
export function presetForRegistry(registry: string): string {
  if (registry === "docker.io") return "dockerhub-current";
  if (registry === "ghcr.io") return "ghcr";
  if (registry === "quay.io") return "quay";
  if (registry === "public.ecr.aws") return "ecr-public";
  if (registry === "registry.k8s.io" || registry === "k8s.gcr.io") return "registry-k8s-io";
  if (registry === "gcr.io" || registry.endsWith(".gcr.io") || registry.endsWith("-docker.pkg.dev"))
    return "artifact-registry";
  return "unlimited";
}
