/**
 * `pullstorm scenario import` (issue 18): a scenario written from what a cluster pulls,
 * read from kubectl or Helm output (kubernetes.ts): its nodes, the pods its workloads
 * run, every image with its registry, pull policy and pull secrets, the registries'
 * presets and catalogs, a default workload and four designs to compare. A starting
 * point to edit, with a comment on every number saying where it came from.
 *
 * A pure function of its input: the same text gives byte-identical YAML (no clock,
 * no randomness, no network).
 */
import { Document, Pair, Scalar, type YAMLMap, type YAMLSeq } from "yaml";
import { BUILTIN_IMAGES } from "../../fake-registry/catalog/builtin.ts";
import { PRESETS } from "../../fake-registry/policy/presets.ts";
import {
  DOCKER_HUB,
  defaultPullPolicy,
  formatImage,
  type ImageReference,
  parseImageReference,
} from "../../vocabulary/oci/reference.ts";
import { andList as list, plural, wrap as wrapWords } from "../../vocabulary/text.ts";
import {
  type ContainerUse,
  type ImageUse,
  type Inventory,
  inventoryOf,
  KubernetesInputError,
  presetForRegistry,
  readKubernetesObjects,
  type Workload,
} from "./kubernetes.ts";

export interface ImportInput {
  /** The text of one input: JSON or YAML, as kubectl or helm wrote it. */
  text: string;
  /** Its name in comments and errors: a file name, or "stdin". */
  source: string;
}

export interface ImportOptions {
  /** The scenario's name (default imported-fleet). */
  name?: string;
}

export interface ImportResult {
  /** The scenario, YAML with comments. */
  yaml: string;
  /** What was skipped, defaulted or chosen, one line each (also in the header comment). */
  notes: string[];
}

export const DEFAULT_IMPORT_NAME = "imported-fleet";
/** Nodes assumed when the input names none (helm template, manifests). */
export const ASSUMED_NODES = 3;

const SCENARIO_NAME = /^[a-z0-9][a-z0-9-]*$/;

/** Why `name` cannot name a scenario, or undefined when it can. */
export function scenarioNameProblem(name: string): string | undefined {
  return SCENARIO_NAME.test(name)
    ? undefined
    : `"${name}" is not a scenario name: lower-case letters, digits and '-', e.g. shop-fleet`;
}

/** One image of the scenario, planned from the inventory. */
interface PlannedImage {
  use: ImageUse;
  name: string;
  /** The ref as the scenario writes it (no digest). */
  ref: string;
  /** The tag the catalog must have. */
  tag: string;
  pinned: boolean;
  pullPolicy?: "Always" | "IfNotPresent";
  /** Every container that runs it, with its workload. */
  uses: Array<{ workload: Workload; container: ContainerUse }>;
  /** Every use is imagePullPolicy Never: Kubernetes never pulls it. */
  never: boolean;
  comment: string[];
}

interface PodEntry {
  image: string;
  /** Undefined: one pod on every node (a bare image name). */
  replicas?: number;
  comment: string[];
}

const workloadKey = (w: Workload) => `${w.kind}/${w.namespace}/${w.name}`;
const workloadLabel = (w: Workload) => `${w.kind} ${w.namespace}/${w.name}`;
const imageKey = (ref: ImageReference) => formatImage(ref);

/** Comment text wrapped to lines of at most `width` characters. */
const wrap = (text: string, width = 92): string[] => wrapWords(text, width);

/** Comment lines as the yaml package takes them: one space after each `#`, blank lines kept. */
const commentText = (lines: string[]) => lines.map((l) => (l ? ` ${l}` : "")).join("\n");

/** A lower-case word from the repository's last component, e.g. fluent-bit, k8s-device-plugin. */
function baseName(repository: string): string {
  const last = repository.split("/").at(-1) ?? "";
  const word = last
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
  return word || "image";
}

/** A word for a registry host: its first label (ghcr, quay, us-docker), "hub" for Docker Hub. */
function registryWord(host: string): string {
  if (host === DOCKER_HUB) return "hub";
  const word = (host.split(/[.:]/)[0] ?? "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
  return word || "registry";
}

/** Docker Hub references as people write them (busybox:1.36, acme/api:latest), others with their host. */
function scenarioRef(ref: ImageReference, tag: string): string {
  if (ref.registry !== DOCKER_HUB) return `${ref.registry}/${ref.repository}:${tag}`;
  const short =
    ref.repository.startsWith("library/") && !ref.repository.slice(8).includes("/")
      ? ref.repository.slice(8)
      : ref.repository;
  return `${short}:${tag}`;
}

/** The pod count of a workload's container, as the comments say it. */
function useLabel(w: Workload, c: ContainerUse): string {
  const parts = [plural(w.pods, "pod")];
  if (c.init) parts.push("init container");
  if (c.pullPolicy === "Never") parts.push("imagePullPolicy Never: not pulled");
  return `${workloadLabel(w)} (${parts.join(", ")})`;
}

function planImages(inv: Inventory, notes: string[]): PlannedImage[] {
  // The inventory's key for an image: its normalised reference.
  const uses = new Map<string, PlannedImage["uses"]>();
  /** Every container, for the pull policies (a pod pulls for each of its containers). */
  const containers = new Map<string, PlannedImage["uses"]>();
  for (const w of inv.workloads)
    for (const c of w.containers) {
      const parsed = parseImageReference(c.image);
      if ("error" in parsed) continue;
      const key = imageKey(parsed);
      containers.set(key, [...(containers.get(key) ?? []), { workload: w, container: c }]);
      const its = uses.get(key) ?? [];
      uses.set(key, its);
      // One use per workload (its pods pull the image once): a pulled main container first.
      const rank = (x: ContainerUse) => (x.pullPolicy === "Never" ? 2 : 0) + (x.init ? 1 : 0);
      const same = its.findIndex((u) => u.workload === w);
      if (same < 0) its.push({ workload: w, container: c });
      else if (rank(c) < rank(its[same]?.container ?? c)) its[same] = { workload: w, container: c };
    }
  const taken = new Set<string>();
  const firstRegistry = new Map<string, string>();
  const planned: PlannedImage[] = [];
  for (const use of inv.images) {
    const ref = use.ref;
    // A unique name: the repository's last word, then with its registry's, then numbered.
    const base = baseName(ref.repository);
    let name = base;
    if (taken.has(name)) {
      const withRegistry = `${base}-${registryWord(ref.registry)}`;
      name =
        firstRegistry.get(base) !== ref.registry && !taken.has(withRegistry) ? withRegistry : "";
      for (let n = 2; !name; n++) if (!taken.has(`${base}-${n}`)) name = `${base}-${n}`;
    }
    taken.add(name);
    if (!firstRegistry.has(base)) firstRegistry.set(base, ref.registry);

    const pinned = ref.digest !== undefined;
    const digestHex = ref.digest?.split(":")[1] ?? "";
    const digestAlgorithm = ref.digest?.split(":")[0] ?? "sha256";
    const tag = ref.tag ?? `${digestAlgorithm}-${digestHex.slice(0, 12)}`;
    const written = scenarioRef(ref, tag);
    const its = uses.get(imageKey(ref)) ?? [];
    const pulled = its.filter((u) => u.container.pullPolicy !== "Never");
    const never = its.length > 0 && pulled.length === 0;

    const comment: string[] = [];
    const inAll = its.length > 1 ? `; ${plural(use.pods, "pod")} in all` : "";
    const secret = use.authenticated ? "; pulled with imagePullSecrets (pullSecret)" : "";
    comment.push(
      ...wrap(
        `${use.text}: ${list(its.map((u) => useLabel(u.workload, u.container)))}${inAll}${secret}.`,
      ),
    );
    if (pinned)
      comment.push(
        ...wrap(
          `The cluster pins it by digest: ${ref.digest}. The fake registry serves its own synthetic content, so that digest cannot be served: the scenario names tag ${tag}${ref.tag === undefined ? " (made up from the digest, in the catalog)" : ""} and pins to the digest the fake registry gives it (pinned: true).`,
        ),
      );

    // The pull policy, always written: the manifests' own, or Kubernetes' default where they say none.
    let pullPolicy: PlannedImage["pullPolicy"];
    const pulling = (containers.get(imageKey(ref)) ?? []).filter(
      (u) => u.container.pullPolicy !== "Never",
    );
    const policies = [...new Set(pulling.map((u) => u.container.pullPolicy))].sort();
    if (policies.length > 0) {
      const chosen: "Always" | "IfNotPresent" = policies.includes("Always")
        ? "Always"
        : "IfNotPresent";
      const byDefault = defaultPullPolicy({ registry: ref.registry, repository: "", tag });
      pullPolicy = chosen;
      if (pulling.every((u) => !u.container.policyGiven))
        comment.push(
          ...wrap(
            `pullPolicy ${chosen}: the manifests give none, so Kubernetes' default for ${ref.digest ? "a reference by digest" : `tag ${ref.tag ?? "latest"}`}.`,
          ),
        );
      if (policies.length > 1) {
        const said = pulling
          .map(
            (u) =>
              `${workloadLabel(u.workload)} (${u.container.container}) ${u.container.pullPolicy}`,
          )
          .filter((s, i, all) => all.indexOf(s) === i);
        const line = `its containers disagree on imagePullPolicy (${said.join(", ")}): Always, the one that pulls more`;
        comment.push(...wrap(`${line[0]?.toUpperCase()}${line.slice(1)}.`));
        notes.push(`${use.text}: ${line}`);
      } else if (pullPolicy === "IfNotPresent" && pinned)
        comment.push(
          ...wrap(
            `pullPolicy IfNotPresent, as the cluster pulls it (Kubernetes' default for a reference by digest), written out because tag ${tag} alone would default to ${byDefault}.`,
          ),
        );
    }
    if (never) {
      comment.push(
        ...wrap(
          "imagePullPolicy Never everywhere: Kubernetes never pulls it (the node must have it), so no pod here runs it.",
        ),
      );
      notes.push(`${use.text}: imagePullPolicy Never, not pulled: left out of fleet.pods`);
    } else if (pulled.length < its.length)
      comment.push(
        ...wrap(
          `${plural(its.length - pulled.length, "container")} with imagePullPolicy Never not counted in its pods.`,
        ),
      );
    planned.push({
      use,
      name,
      ref: written,
      tag,
      pinned,
      ...(pullPolicy ? { pullPolicy } : {}),
      uses: its,
      never,
      comment,
    });
  }
  return planned;
}

interface FleetPlan {
  nodes: number;
  nodesComment: string[];
  runtime: string;
  runtimeComment: string[];
  pods: PodEntry[];
}

function planFleet(inv: Inventory, images: PlannedImage[], notes: string[]): FleetPlan {
  const hasNodes = inv.nodes.length > 0;
  // Without nodes, a DaemonSet on every node counted by the cluster (kubectl get ds) says how many.
  const counted = inv.workloads
    .filter(
      (w) =>
        w.kind === "DaemonSet" &&
        w.podsFrom === "status.desiredNumberScheduled" &&
        Object.keys(w.nodeSelector).length === 0 &&
        w.pods > 0,
    )
    .sort((a, b) => b.pods - a.pods)[0];
  let nodes: number;
  let nodesComment: string[];
  if (hasNodes) {
    nodes = inv.nodes.length;
    nodesComment = [`The ${plural(nodes, "node")} in the input.`];
  } else if (counted) {
    nodes = counted.pods;
    nodesComment = wrap(
      `No nodes in the input: the ${plural(nodes, "node")} ${workloadLabel(counted)} runs on (status.desiredNumberScheduled, no nodeSelector); kubectl get nodes -o json gives them exactly.`,
    );
    notes.push(
      `no nodes in the input: ${nodes}, from ${workloadLabel(counted)}'s status.desiredNumberScheduled (fleet.nodes)`,
    );
  } else {
    nodes = ASSUMED_NODES;
    nodesComment = wrap(
      `No nodes in the input (helm template or manifests): ${ASSUMED_NODES} assumed; set your fleet's size (kubectl get nodes -o json adds them).`,
    );
    notes.push(`no nodes in the input: ${ASSUMED_NODES} assumed (fleet.nodes)`);
  }

  // The runtime most nodes run; versions and pools for the comment.
  const runtimes = new Map<string, number>();
  const versions = new Map<string, number>();
  const pools = new Map<string, number>();
  for (const n of inv.nodes) {
    runtimes.set(n.runtime, (runtimes.get(n.runtime) ?? 0) + 1);
    const v = `${n.runtime} ${n.runtimeVersion || "(version not given)"}`;
    versions.set(v, (versions.get(v) ?? 0) + 1);
    pools.set(n.pool, (pools.get(n.pool) ?? 0) + 1);
  }
  const byCount = (m: Map<string, number>) =>
    [...m].sort(([a, x], [b, y]) => y - x || a.localeCompare(b));
  const runtime = byCount(runtimes)[0]?.[0] ?? "containerd";
  let runtimeComment: string[];
  if (!hasNodes)
    runtimeComment = ["No nodes in the input: containerd assumed, the runtime most clusters run."];
  else {
    const v = byCount(versions);
    const versionText =
      v.length === 1 ? (v[0]?.[0] ?? "") : v.map(([name, n]) => `${name} on ${n}`).join(", ");
    const poolText = byCount(pools)
      .map(([name, n]) => `${name} ${n}`)
      .join(", ");
    const mixed = runtimes.size > 1;
    runtimeComment = wrap(
      `${plural(nodes, "node")}${mixed ? ", mixed runtimes" : ""}: ${versionText}; ${pools.size === 1 ? "pool" : "pools"} ${poolText}.${mixed ? ` The scenario runs one runtime on every node: ${runtime}, the most common.` : ""}`,
    );
    if (mixed)
      notes.push(`mixed runtimes (${versionText}): fleet.runtime ${runtime}, the most common`);
  }

  // Pods: every workload's containers; DaemonSets on every node by name, the rest as replicas.
  const entries = new Map<
    string,
    { image: string; replicas?: number; sources: string[]; order: number }
  >();
  const byName = new Map(images.map((p, i) => [p.name, i]));
  for (const image of images) {
    if (image.never) continue;
    for (const { workload: w, container: c } of image.uses) {
      if (c.pullPolicy === "Never") continue;
      if (w.pods === 0) {
        notes.push(`${workloadLabel(w)}: no pods (${w.podsFrom}): left out of fleet.pods`);
        continue;
      }
      const selector = Object.entries(w.nodeSelector)
        .map(([k, v]) => `${k}=${v}`)
        .join(", ");
      const everyNode =
        w.kind === "DaemonSet" &&
        (hasNodes ? w.pods >= inv.nodes.length : Object.keys(w.nodeSelector).length === 0);
      const init = c.init ? ", init container" : "";
      let source: string;
      if (everyNode)
        source = `${workloadLabel(w)}${init}: one pod on every node (${hasNodes ? `${w.pods} of ${inv.nodes.length}, from ${w.podsFrom}` : `no nodes in the input${w.podsFrom === "status.desiredNumberScheduled" ? `; the cluster counts ${w.pods}` : ""}`})`;
      else if (w.kind === "DaemonSet" && !hasNodes)
        source = `${workloadLabel(w)}${init}: only on nodes with ${selector}, which the input does not list: ${plural(w.pods, "pod")}, from ${w.podsFrom}; as replicas, so nodes added by scale-up will not run it`;
      else if (w.kind === "DaemonSet")
        source = `${workloadLabel(w)}${init}: one pod on each of ${w.pods} of the ${inv.nodes.length} nodes${selector ? ` with ${selector}` : ""} (from ${w.podsFrom}); as replicas, so nodes added by scale-up will not run it`;
      else
        source = `${workloadLabel(w)}${init}: ${plural(w.pods, "pod")}, from ${w.podsFrom}${w.kind === "CronJob" || w.kind === "Job" ? " (a job's pods: here they start with the fleet)" : ""}`;
      const key = `${image.name}\0${everyNode ? "all" : "replicas"}`;
      const entry = entries.get(key) ?? {
        image: image.name,
        ...(everyNode ? {} : { replicas: 0 }),
        sources: [],
        order: (byName.get(image.name) ?? 0) * 2 + (everyNode ? 0 : 1),
      };
      if (entry.replicas !== undefined) entry.replicas += w.pods;
      entry.sources.push(source);
      entries.set(key, entry);
    }
  }
  const pods = [...entries.values()]
    .sort((a, b) => a.order - b.order)
    .map(({ image, replicas, sources }): PodEntry => {
      const head = replicas === undefined ? `${image}:` : `${image}, ${plural(replicas, "pod")}:`;
      const comment =
        sources.length === 1
          ? wrap(`${head} ${sources[0]}.`)
          : [head, ...sources.flatMap((s) => wrap(`- ${s}.`).map((l, i) => (i ? `  ${l}` : l)))];
      return { image, ...(replicas !== undefined ? { replicas } : {}), comment };
    });
  return { nodes, nodesComment, runtime, runtimeComment, pods };
}

/** The image a rolling restart restarts: the most pods of Deployments (their main containers). */
function restartTarget(
  images: PlannedImage[],
): { image: PlannedImage; pods: number; from: string[] } | undefined {
  const scores = new Map<string, { image: PlannedImage; pods: number; from: string[] }>();
  const order: string[] = [];
  const deployments = images
    .flatMap((image) =>
      image.uses
        .filter(
          (u) =>
            u.workload.kind === "Deployment" &&
            !u.container.init &&
            u.container.pullPolicy !== "Never" &&
            u.workload.pods > 0,
        )
        .map((u) => ({ image, ...u })),
    )
    // The biggest Deployment's first container first, ties in the input's order.
    .sort(
      (a, b) =>
        b.workload.pods - a.workload.pods ||
        workloadKey(a.workload).localeCompare(workloadKey(b.workload)) ||
        a.workload.containers.indexOf(a.container) - b.workload.containers.indexOf(b.container),
    );
  for (const d of deployments) {
    const s = scores.get(d.image.name) ?? { image: d.image, pods: 0, from: [] };
    if (!scores.has(d.image.name)) order.push(d.image.name);
    s.pods += d.workload.pods;
    s.from.push(workloadLabel(d.workload));
    scores.set(d.image.name, s);
  }
  let best: { image: PlannedImage; pods: number; from: string[] } | undefined;
  for (const name of order) {
    const s = scores.get(name);
    if (s && (!best || s.pods > best.pods)) best = s;
  }
  return best;
}

/** Catalog entries per registry host: the repositories and tags the images name, in order. */
function planCatalogs(
  images: PlannedImage[],
): Map<string, Array<{ name: string; tags: string[]; comment?: string }>> {
  const builtin = new Map(BUILTIN_IMAGES.map((d) => [d.name, Object.keys(d.tags)]));
  const out = new Map<string, Array<{ name: string; tags: string[]; comment?: string }>>();
  for (const image of images) {
    const { registry, repository } = image.use.ref;
    const entries = out.get(registry) ?? [];
    out.set(registry, entries);
    const hub = registry === DOCKER_HUB;
    const known = hub ? builtin.get(repository) : undefined;
    if (known?.includes(image.tag)) continue;
    let entry = entries.find((e) => e.name === repository);
    if (!entry) {
      entry = {
        name: repository,
        tags: [...(known ?? [])],
        ...(known
          ? {
              comment: `replaces the built-in ${repository} (its tags ${list(known)} kept) to add the tags the cluster uses`,
            }
          : {}),
      };
      entries.push(entry);
    }
    if (!entry.tags.includes(image.tag)) entry.tags.push(image.tag);
  }
  return out;
}

/** The scenario for what the inputs pull (see the module comment). */
export function importScenario(inputs: ImportInput[], options: ImportOptions = {}): ImportResult {
  const name = options.name ?? DEFAULT_IMPORT_NAME;
  const nameProblem = scenarioNameProblem(name);
  if (nameProblem) throw new RangeError(nameProblem);
  const sources = inputs.map((i) => i.source);
  const from = sources.length > 0 ? list(sources) : "no input";
  const inv = inventoryOf(inputs.flatMap((i) => readKubernetesObjects(i.text, i.source)));
  if (inv.images.length === 0)
    throw new KubernetesInputError(
      `${from}: no pods or workloads with images in it (give kubectl get nodes,pods -A -o json, kubectl get deploy,ds,sts,jobs,cronjobs -A -o yaml, or helm template output)${inv.notes.length > 0 ? `; ${inv.notes.join("; ")}` : ""}`,
    );

  const notes = [...inv.notes];
  const images = planImages(inv, notes);
  const fleet = planFleet(inv, images, notes);
  const catalogs = planCatalogs(images);
  const target = restartTarget(images);
  const registries = [...new Set(images.map((i) => i.use.ref.registry))].filter(
    (r) => r !== DOCKER_HUB,
  );
  const registryCount = new Set(images.map((i) => i.use.ref.registry)).size;
  if (!target) notes.push("no Deployment in the input: no rolling-restart step");

  const doc = new Document();
  const node = (value: unknown) => doc.createNode(value);
  const pair = (
    key: string,
    value: unknown,
    comment?: string[],
    space = false,
  ): Pair<Scalar, unknown> => {
    const k = new Scalar(key);
    if (comment && comment.length > 0) k.commentBefore = commentText(comment);
    if (space) k.spaceBefore = true;
    return new Pair(k, value instanceof Scalar || isCollection(value) ? value : node(value));
  };
  const mapOf = (pairs: Array<Pair<Scalar, unknown>>, comment?: string[]): YAMLMap => {
    const m = node({}) as YAMLMap;
    m.items.push(...pairs);
    if (comment && comment.length > 0) m.commentBefore = commentText(comment);
    return m;
  };
  const seqOf = (items: unknown[], flow = false): YAMLSeq => {
    const s = node([]) as YAMLSeq;
    s.items.push(...items.map((i) => (i instanceof Scalar || isCollection(i) ? i : node(i))));
    if (flow) s.flow = true;
    return s;
  };
  const catalogOf = (host: string): YAMLMap | undefined => {
    const entries = catalogs.get(host) ?? [];
    if (entries.length === 0) return undefined;
    return mapOf([
      pair(
        "images",
        seqOf(
          entries.map((e) =>
            mapOf(
              [pair("name", e.name), pair("tags", seqOf(e.tags, true))],
              e.comment ? wrap(e.comment) : undefined,
            ),
          ),
        ),
      ),
    ]);
  };
  const catalogComment = (host: string) =>
    wrap(
      `The repositories and tags its images name${host === DOCKER_HUB ? " that the built-in catalog lacks" : ""}. Layers are synthetic (manifests give no sizes): set catalog.defaults (layers, layerSize) or per-image layers and layerSize to match yours.`,
    );
  const presetComment = (host: string, preset: string) =>
    preset === "unlimited"
      ? wrap(
          `${host}: preset unlimited, unthrottled: no preset for this registry (set policy if you know its limits).`,
        )
      : wrap(`${host}: preset ${preset}. ${PRESETS[preset]?.description ?? ""}.`);

  // Header.
  const header = [
    ...wrap(`${name}: imported by \`pullstorm scenario import\` from ${from}.`),
    "",
    ...wrap(
      `A starting point to edit, not a verdict: ${plural(fleet.nodes, "node")}${inv.nodes.length === 0 ? " (not in the input)" : ""}, ${plural(inv.workloads.length, "workload")}, ${plural(images.length, "image")} from ${registryCount === 1 ? "1 registry" : `${registryCount} registries`}. Every number says where it came from. Check the fleet (nodes, pods), the workload steps (what happens to the fleet and when) and the designs (what you could run instead), then add expectations.`,
    ),
    "",
    ...wrap(
      "What it assumes: manifests give no image sizes, so the fake registry serves synthetic layers; it serves its own content, so a digest the cluster pins cannot be served: such images name a tag and are pinned (pinned: true) to the digest the fake registry gives it.",
    ),
  ];
  if (notes.length > 0)
    header.push(
      "",
      "Notes from the import:",
      ...notes.flatMap((n) => wrap(`- ${n}`).map((l, i) => (i ? `  ${l}` : l))),
    );

  const root = node({}) as YAMLMap;
  doc.contents = root;
  root.items.push(
    pair("name", name),
    pair(
      "description",
      `Imported from ${from}: ${plural(fleet.nodes, "node")}, ${plural(inv.workloads.length, "workload")}, ${plural(images.length, "image")}`,
    ),
    pair("duration", "2h", ["Two simulated hours: the default workload below ends at 100m."]),
    pair("seed", 1),
  );

  // Registries.
  const hubPreset = presetForRegistry(DOCKER_HUB);
  const hubCatalog = catalogOf(DOCKER_HUB);
  root.items.push(
    pair(
      "registry",
      mapOf([
        pair("preset", hubPreset),
        ...(hubCatalog ? [pair("catalog", hubCatalog, catalogComment(DOCKER_HUB))] : []),
      ]),
      [
        ...wrap(
          "Docker Hub (docker.io): where images without a registry host, or on docker.io, come from.",
        ),
        ...presetComment("docker.io", hubPreset),
      ],
      true,
    ),
  );
  if (registries.length > 0)
    root.items.push(
      pair(
        "registries",
        seqOf(
          registries.map((host) => {
            const preset = presetForRegistry(host);
            const catalog = catalogOf(host);
            return mapOf(
              [
                pair("host", host),
                pair("preset", preset),
                ...(catalog ? [pair("catalog", catalog, catalogComment(host))] : []),
              ],
              presetComment(host, preset),
            );
          }),
        ),
        wrap("The other registries the cluster pulls from, each with its own limits and catalog."),
        true,
      ),
    );

  // Images.
  root.items.push(
    pair(
      "images",
      seqOf(
        images.map((image) =>
          mapOf(
            [
              pair("name", image.name),
              pair("ref", image.ref),
              ...(image.pullPolicy ? [pair("pullPolicy", image.pullPolicy)] : []),
              ...(image.use.authenticated ? [pair("pullSecret", true)] : []),
              ...(image.pinned ? [pair("pinned", true)] : []),
            ],
            image.comment,
          ),
        ),
      ),
      wrap(
        "Every image the input runs, with its registry, tag and imagePullPolicy (as the manifests write it, or Kubernetes' default where they say none). pullSecret where its pods have imagePullSecrets: the secrets' contents are not in the input, so set it false for an image whose registry none of them holds credentials for.",
      ),
      true,
    ),
  );

  // Fleet.
  root.items.push(
    pair(
      "fleet",
      mapOf([
        pair("nodes", fleet.nodes, fleet.nodesComment),
        pair("runtime", fleet.runtime, fleet.runtimeComment),
        pair(
          "pods",
          seqOf(
            fleet.pods.map((p) => {
              const item =
                p.replicas === undefined
                  ? new Scalar(p.image)
                  : (() => {
                      const m = node({ image: p.image, replicas: p.replicas }) as YAMLMap;
                      m.flow = true;
                      return m;
                    })();
              item.commentBefore = commentText(p.comment);
              return item;
            }),
          ),
          wrap(
            "A bare image name: one pod on every node, new nodes too (a DaemonSet). { image, replicas }: that many pods spread over the nodes at the start; a replaced node's pods move to its replacement, nodes added by scale-up run none.",
          ),
        ),
      ]),
      undefined,
      true,
    ),
  );

  // Workload.
  const scaleUp = Math.max(1, Math.floor(fleet.nodes / 2));
  const steps: YAMLMap[] = [
    mapOf(
      [
        pair("type", "node-churn"),
        pair("at", "15m"),
        pair("over", "20m"),
        pair("nodes", fleet.nodes),
      ],
      wrap(
        `Every node replaced by one with an empty cache (a node-image or kernel rollout, spot churn): all ${fleet.nodes}, from 15m over 20m, paced by each design's rollout.`,
      ),
    ),
    mapOf(
      [pair("type", "scale-up"), pair("at", "60m"), pair("over", "10m"), pair("nodes", scaleUp)],
      wrap(
        `The autoscaler adds ${plural(scaleUp, "node")} (half the fleet) from 60m over 10m: new nodes start with empty caches and run the pods named bare (DaemonSet-like), not the replicas.`,
      ),
    ),
  ];
  if (target)
    steps.push(
      mapOf(
        [
          pair("type", "rolling-restart"),
          pair("at", "90m"),
          pair("over", "10m"),
          pair("image", target.image.name),
        ],
        wrap(
          `A rolling restart of ${target.image.name}, the image with the most Deployment pods (${target.pods}: ${list(target.from)}), from 90m over 10m: a deploy or kubectl rollout restart.`,
        ),
      ),
    );
  root.items.push(
    pair(
      "workload",
      seqOf(steps),
      [
        ...wrap(
          "Defaults to edit: what happens to the fleet and when (docs/scenarios.md). Add ci-fan-out, arrivals, tag-move or rollout steps for the rest of your traffic.",
        ),
        ...(target ? [] : ["No Deployment in the input: no rolling-restart step."]),
      ],
      true,
    ),
  );

  // Designs.
  root.items.push(
    pair(
      "designs",
      seqOf([
        mapOf(
          [
            pair("name", "as-is"),
            pair("description", "what the cluster does: anonymous pulls behind one NAT address"),
            pair("auth", "anonymous"),
            pair("egressIps", 1),
          ],
          wrap(
            "What the cluster does today: anonymous pulls, the whole fleet behind one egress address; images with pullSecret pull with their account, as the input says.",
          ),
        ),
        mapOf(
          [
            pair("name", "account-per-node"),
            pair("description", "every node pulls with its own free account"),
            pair("auth", "account-per-actor"),
            pair("plan", "free"),
          ],
          wrap("Every node authenticates with its own account: each has its own quota."),
        ),
        mapOf(
          [
            pair("name", "docker-hub-mirror"),
            pair(
              "description",
              "a pull-through mirror of Docker Hub that pulls upstream with an account",
            ),
            pair("auth", "anonymous"),
            pair(
              "mirror",
              mapOf([
                pair("enabled", true),
                pair("flavour", "distribution-2.8"),
                pair("upstreamAuth", true),
              ]),
            ),
          ],
          wrap(
            "A pull-through cache (CNCF distribution) in front of Docker Hub only: the other registries are pulled directly.",
          ),
        ),
        mapOf(
          [
            pair("name", "pinned-if-not-present"),
            pair(
              "description",
              "every image pinned by digest and pulled only when the node lacks it",
            ),
            pair("pin", "digest"),
            pair("pullPolicy", "IfNotPresent"),
          ],
          wrap(
            "Every image pinned by digest (as a deploy pipeline pins) with imagePullPolicy IfNotPresent: a present image costs no request.",
          ),
        ),
      ]),
      wrap("The designs to compare: what the cluster does, and what it could do instead."),
      true,
    ),
  );
  doc.comment = commentText([
    "No expectations yet: add them once you know what must hold, e.g.",
    "expectations:",
    "  - design: account-per-node",
    "    verdict: holds",
    "    maxFailedPulls: 0",
  ]);
  const headerText = header.map((l) => (l ? `# ${l}` : "#")).join("\n");
  const body = doc.toString({ lineWidth: 0, flowCollectionPadding: false });
  return { yaml: `${headerText}\n${body}`, notes };
}

function isCollection(v: unknown): v is YAMLMap | YAMLSeq {
  return (
    typeof v === "object" &&
    v !== null &&
    "items" in v &&
    Array.isArray((v as { items: unknown }).items)
  );
}
