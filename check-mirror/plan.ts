/**
 * What a node's configuration makes of each image before anything runs: which
 * file or entry applies, and the hosts the runtime will try, in order, with
 * what each is used for. The plan names every host the loopback copy must
 * replace, and is what the models pull by when the real program cannot run.
 */

import {
  byDigest,
  DOCKER_HUB,
  formatImage,
  type ImageReference,
} from "../vocabulary/oci/reference.ts";
import type { DaemonJsonConfig } from "./config/daemon-json.ts";
import {
  CAPABILITIES,
  type Capability,
  effectiveHosts,
  type HostsDirConfig,
  namespaceFor,
} from "./config/hosts-dir.ts";
import {
  mirrorsFor,
  type RegistriesConfConfig,
  type RegistryEntry,
  registryFor,
} from "./config/registries-conf.ts";
import { type Endpoint, parseEndpoint, registryOfHost, roleOfHost } from "./endpoints.ts";
import type { ConfigKind } from "./types.ts";

export type NodeConfig = HostsDirConfig | DaemonJsonConfig | RegistriesConfConfig;

/** How a runtime moves between hosts. */
export type PullStyle =
  /** containerd: every request (resolve, each manifest, each blob) tries the hosts in order on its own. */
  | "per-request"
  /** dockerd, containers/image: the first host that resolves the image serves all of it. */
  | "single-source";

export interface PlannedHost {
  /** The host as configured ("mirror.corp:5000"), or the registry itself ("docker.io"). */
  name: string;
  role: "mirror" | "upstream";
  /** Where in the configuration it comes from: host."https://mirror.corp:5000", server, registry-mirrors[0], ... */
  from: string;
  endpoint: Endpoint | null;
  /** Used to resolve tags / to fetch by digest, for this image. */
  resolve: boolean;
  pull: boolean;
  /** containerd capabilities as configured (hosts.toml only). */
  capabilities?: Capability[];
  /** The path requests start with ("/v2", "/v2/dockerhub" for a namespaced location). */
  requestRoot: string;
}

export interface ImagePlan {
  ref: ImageReference;
  text: string;
  /** The file or entry that applies, or null when none does. */
  source: string | null;
  hosts: PlannedHost[];
  style: PullStyle;
  /** containerd 1.6 will not read the hosts.toml that applies (no [host] table). */
  ignoredFile?: string;
}

/** The hosts a runtime reading `config` tries for each image. `config` is what the runtime reads (or an empty one). */
export function planImages(config: NodeConfig, images: ImageReference[]): ImagePlan[] {
  return images.map((ref) =>
    config.kind === "hosts-dir"
      ? planContainerd(config, ref)
      : config.kind === "daemon-json"
        ? planDockerd(config, ref)
        : planContainersImage(config, ref),
  );
}

/** An empty configuration of a kind: what a runtime reads when its own file says nothing. */
export function emptyConfig(kind: ConfigKind): NodeConfig {
  switch (kind) {
    case "hosts-dir":
      return { kind, path: "(none)", namespaces: [], rootFiles: [] };
    case "daemon-json":
      return { kind, path: "(none)", mirrors: [], insecureRegistries: [] };
    case "registries-conf":
      return {
        kind,
        path: "(none)",
        v1: false,
        registries: [],
        ignoredKeys: [],
        unknownKeys: [],
      };
  }
}

/** containerd's request path root for a host entry (hosts.go parseHostConfig). */
function containerdRoot(endpoint: Endpoint | null, overridePath: boolean): string {
  if (!endpoint?.path) return "/v2";
  const clean = endpoint.path.replace(/\/+/g, "/");
  if (clean.endsWith("/v2") || overridePath) return clean;
  return `${clean}/v2`;
}

function planContainerd(config: HostsDirConfig, ref: ImageReference): ImagePlan {
  const ns = namespaceFor(config, ref.registry);
  const tag = !byDigest(ref);
  const hosts: PlannedHost[] = [];
  const doc = ns?.document;
  const hostTable = (doc?.host ?? {}) as Record<string, Record<string, unknown>>;
  for (const h of effectiveHosts(ns)) {
    const endpoint = h.endpoint === "registry" ? null : h.endpoint;
    const caps = h.capabilities;
    const entryKey =
      h.from === "host" ? ns?.hosts.find((x) => x.endpoint === endpoint)?.key : undefined;
    const override =
      h.from === "host" && entryKey !== undefined
        ? hostTable[entryKey]?.override_path === true
        : doc?.override_path === true;
    // containerd resolves a tag on hosts with pull AND resolve; a digest on hosts with pull.
    const pull = caps.includes("pull");
    const resolve = tag ? pull && caps.includes("resolve") : pull;
    hosts.push({
      name: endpoint ? endpoint.host : ref.registry,
      role: endpoint ? roleOfHost(endpoint.host, ref.registry) : "upstream",
      from:
        h.from === "host"
          ? `host.${JSON.stringify(entryKey ?? endpoint?.raw)}`
          : h.from === "server"
            ? "server"
            : ns?.document && !ns.noHostTables
              ? "default (no server: containerd appends the registry)"
              : "default (the registry itself)",
      endpoint,
      resolve,
      pull,
      capabilities: caps.filter((c) => (CAPABILITIES as Capability[]).includes(c)),
      requestRoot: containerdRoot(endpoint, override),
    });
  }
  return {
    ref,
    text: formatImage(ref),
    source: ns ? (ns.file ?? `${config.path}/${ns.dir}/ (no hosts.toml)`) : null,
    hosts,
    style: "per-request",
    ...(ns?.file && ns.noHostTables ? { ignoredFile: ns.file } : {}),
  };
}

function planDockerd(config: DaemonJsonConfig, ref: ImageReference): ImagePlan {
  const hub = ref.registry === DOCKER_HUB;
  const hosts: PlannedHost[] = [];
  // registry-mirrors apply to Docker Hub images only (moby registry/service.go lookupV2Endpoints).
  if (hub)
    for (const [i, m] of config.mirrors.entries())
      hosts.push({
        name: m.host,
        role: roleOfHost(m.host, ref.registry),
        from: `registry-mirrors[${i}]`,
        endpoint: m,
        resolve: true,
        pull: true,
        requestRoot: `${m.path}/v2`,
      });
  hosts.push({
    name: ref.registry,
    role: "upstream",
    from: hub ? "Docker Hub (registry-1.docker.io), always last" : "the image's registry",
    endpoint: null,
    resolve: true,
    pull: true,
    requestRoot: "/v2",
  });
  return {
    ref,
    text: formatImage(ref),
    source: hub && config.mirrors.length > 0 ? `${config.path}: registry-mirrors` : null,
    hosts,
    style: "single-source",
  };
}

/** A registries.conf location ("mirror.corp:5000/dockerhub") as an endpoint plus the namespace path. */
export function locationEndpoint(location: string, insecure: boolean): Endpoint {
  const parsed = parseEndpoint(`${insecure ? "http" : "https"}://${location}`);
  if ("error" in parsed) throw new Error(`location "${location}": ${parsed.error}`);
  return { ...parsed, raw: location };
}

function planContainersImage(config: RegistriesConfConfig, ref: ImageReference): ImagePlan {
  const name = `${ref.registry}/${ref.repository}`;
  const entry = registryFor(config, name);
  const digested = byDigest(ref);
  const hosts: PlannedHost[] = [];
  if (entry) {
    const used = new Set(mirrorsFor(entry, digested));
    entry.mirrors.forEach((m, j) => {
      const endpoint = locationEndpoint(m.location, m.insecure);
      const on = used.has(m);
      hosts.push({
        name: endpoint.host,
        role: roleOfHost(endpoint.host, ref.registry),
        from: `registry[${entry.index}].mirror[${j}]`,
        endpoint,
        resolve: on,
        pull: on,
        requestRoot: `/v2${endpoint.path}`,
      });
    });
  }
  const location = entry?.location || "";
  // A wildcard prefix without a location, or a location naming the registry: the registry itself.
  const own =
    !location || registryOfHost(location.split("/")[0] ?? "") === registryOfHost(ref.registry);
  const endpoint = location ? locationEndpoint(location, entry?.insecure ?? false) : null;
  hosts.push({
    name: endpoint && !own ? endpoint.host : ref.registry,
    role: endpoint ? roleOfHost(endpoint.host, ref.registry) : "upstream",
    from: entry ? `registry[${entry.index}].location` : "the image's registry",
    endpoint,
    resolve: !entry?.blocked,
    pull: !entry?.blocked,
    requestRoot: `/v2${endpoint?.path ?? ""}`,
  });
  return {
    ref,
    text: formatImage(ref),
    source: entry ? `${config.path}: registry[${entry.index}] (prefix "${entry.prefix}")` : null,
    hosts,
    style: "single-source",
  };
}

/** The [[registry]] entry an image uses, for the loopback copy. */
export function registryEntryFor(
  config: RegistriesConfConfig,
  ref: ImageReference,
): RegistryEntry | undefined {
  return registryFor(config, `${ref.registry}/${ref.repository}`);
}
