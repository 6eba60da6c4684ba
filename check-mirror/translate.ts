/**
 * The loopback copy of a node's configuration: the same structure, every host
 * replaced by its stand-in on 127.0.0.1. For containerd the registry's
 * directory is renamed to the stand-in of the registry (127.0.0.1:PORT) and the
 * image is pulled as 127.0.0.1:PORT/..., so containerd's own fallback to the
 * registry also lands on loopback; for containers/image the matching
 * [[registry]] gets the stand-in as prefix and location. Whatever the input,
 * nothing in the copy names a host outside 127.0.0.0/8: `loopbackViolations`
 * re-reads what was written and the check refuses to run a program otherwise.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parse as parseToml, stringify } from "smol-toml";
import { formatImage, type ImageReference } from "../vocabulary/oci/reference.ts";
import type { HostsDirConfig } from "./config/hosts-dir.ts";
import { namespaceFor } from "./config/hosts-dir.ts";
import { isTable, type Table } from "./config/read.ts";
import type { RegistriesConfConfig } from "./config/registries-conf.ts";
import {
  type Endpoint,
  isLoopbackHost,
  parseEndpoint,
  registryOfHost,
  roleOfHost,
} from "./endpoints.ts";
import { type ImagePlan, registryEntryFor } from "./plan.ts";

/** Where each configured host listens on loopback. */
export interface StandInMap {
  /** The registry's stand-in (host:port) for a registry name (docker.io, quay.io). */
  upstream(registry: string): string;
  /** A mirror host's stand-in (host:port). */
  mirror(host: string): string;
}

export interface Translation {
  /** Relative path -> content, as written under the translation directory. */
  files: Record<string, string>;
  /** What to hand the runtime: the hosts directory or the registries.conf file (absolute). */
  configPath?: string;
  /** Image (normalised text) -> the reference the runtime pulls. */
  pulledAs: Record<string, string>;
  notes: string[];
}

/** The stand-in for a host named in the configuration of an image. */
export function standInFor(host: string, role: "mirror" | "upstream", map: StandInMap): string {
  return role === "upstream" ? map.upstream(registryOfHost(host)) : map.mirror(host);
}

export function pulledAs(ref: ImageReference, map: StandInMap): string {
  return formatImage(ref, map.upstream(registryOfHost(ref.registry)));
}

function write(dir: string, files: Record<string, string>): void {
  for (const [rel, content] of Object.entries(files)) {
    const full = join(dir, rel);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, content);
  }
}

const TLS_KEYS = ["ca", "client", "skip_verify"];

/** A hosts.toml table with its TLS material dropped (stand-ins speak plain HTTP). */
function withoutTls(table: Table, dropped: Set<string>): Table {
  const copy: Table = {};
  for (const [k, v] of Object.entries(table)) {
    if (TLS_KEYS.includes(k)) dropped.add(k);
    else if (k !== "host" && k !== "server") copy[k] = v;
  }
  return copy;
}

function loopbackUrl(endpoint: Endpoint, standIn: string): string {
  return `http://${standIn}${endpoint.path}`;
}

/**
 * Writes the loopback hosts directory under `dir/hosts` for the images'
 * registries. Directories no image reads are left out (and reported by the
 * findings); `_default` keeps its name.
 */
export function translateHostsDir(
  config: HostsDirConfig,
  plans: ImagePlan[],
  map: StandInMap,
  dir: string,
): Translation {
  const files: Record<string, string> = {};
  const notes: string[] = [];
  const dropped = new Set<string>();
  const emptyDirs = new Set<string>();
  const done = new Set<string>();
  const out: Record<string, string> = {};
  for (const plan of plans) {
    const ref = plan.ref;
    out[plan.text] = pulledAs(ref, map);
    const ns = namespaceFor(config, ref.registry);
    if (!ns) continue;
    const target = ns.dir === "_default" ? "_default" : map.upstream(registryOfHost(ref.registry));
    if (done.has(target)) continue;
    done.add(target);
    if (!ns.document) {
      // The directory exists without a usable hosts.toml: containerd uses the registry itself.
      emptyDirs.add(target);
      continue;
    }
    const doc: Table = withoutTls(ns.document, dropped);
    if (ns.server)
      doc.server = loopbackUrl(
        ns.server,
        standInFor(ns.server.host, roleOfHost(ns.server.host, ref.registry), map),
      );
    // Keys in file order: containerd tries [host] entries in the order they appear.
    const ordered: Table = {};
    if (doc.server !== undefined) ordered.server = doc.server;
    for (const [k, v] of Object.entries(doc)) if (k !== "server") ordered[k] = v;
    if (isTable(ns.document.host)) {
      const hosts: Table = {};
      for (const entry of ns.hosts) {
        const key = loopbackUrl(
          entry.endpoint,
          standInFor(entry.endpoint.host, roleOfHost(entry.endpoint.host, ref.registry), map),
        );
        if (key in hosts) {
          notes.push(
            `${ns.file}: host."${entry.key}" maps onto the same stand-in as an earlier entry; only the first is kept`,
          );
          continue;
        }
        const original = (ns.document.host as Table)[entry.key];
        hosts[key] = isTable(original) ? withoutTls(original, dropped) : {};
      }
      ordered.host = hosts;
    }
    files[`${target}/hosts.toml`] = stringify(ordered);
  }
  for (const d of emptyDirs) files[`${d}/.keep`] = "";
  if (dropped.size > 0)
    notes.push(
      `TLS settings (${[...dropped].join(", ")}) are left out: the stand-ins speak plain HTTP on loopback`,
    );
  notes.push(
    "https:// endpoints become http:// stand-ins on 127.0.0.1; the registry's directory is renamed to its stand-in (127.0.0.1:PORT) and images are pulled as 127.0.0.1:PORT/..., so requests to a mirror carry ?ns=127.0.0.1:PORT where a node sends ?ns=docker.io",
  );
  const root = join(dir, "hosts");
  mkdirSync(root, { recursive: true });
  write(root, files);
  return { files, configPath: root, pulledAs: out, notes };
}

/** Writes the loopback registries.conf (`dir/registries.conf`): the [[registry]] each image uses, with stand-ins. */
export function translateRegistriesConf(
  config: RegistriesConfConfig,
  plans: ImagePlan[],
  map: StandInMap,
  dir: string,
): Translation {
  const notes: string[] = [];
  const registries: Table[] = [];
  const done = new Set<string>();
  const out: Record<string, string> = {};
  for (const plan of plans) {
    const ref = plan.ref;
    out[plan.text] = pulledAs(ref, map);
    const entry = registryEntryFor(config, ref);
    if (!entry) continue;
    const upstream = map.upstream(registryOfHost(ref.registry));
    const key = `${entry.index}|${upstream}`;
    if (done.has(key)) continue;
    done.add(key);
    const prefix = entry.prefix.startsWith("*.")
      ? upstream
      : `${upstream}${entry.prefix.slice(entry.prefix.indexOf("/") < 0 ? entry.prefix.length : entry.prefix.indexOf("/"))}`;
    const locate = (location: string): string => {
      const slash = location.indexOf("/");
      const host = slash < 0 ? location : location.slice(0, slash);
      const rest = slash < 0 ? "" : location.slice(slash);
      const parsed = parseEndpoint(host);
      const h = "error" in parsed ? host.toLowerCase() : parsed.host;
      return `${standInFor(h, roleOfHost(h, ref.registry), map)}${rest}`;
    };
    const table: Table = {
      prefix,
      location: entry.location ? locate(entry.location) : upstream,
      insecure: true,
    };
    if (entry.blocked) table.blocked = true;
    if (entry.mirrorByDigestOnly) table["mirror-by-digest-only"] = true;
    if (entry.mirrors.length > 0)
      table.mirror = entry.mirrors.map((m) => ({
        location: locate(m.location),
        insecure: true,
        ...(m.pullFromMirrorWritten ? { "pull-from-mirror": m.pullFromMirror } : {}),
      }));
    registries.push(table);
  }
  // The stand-ins speak plain HTTP: a registry no entry covers still needs insecure = true to be reached at all.
  const plain = new Set<string>();
  for (const plan of plans) {
    const upstream = map.upstream(registryOfHost(plan.ref.registry));
    if (!registries.some((r) => r.prefix === upstream) && !plain.has(upstream)) {
      plain.add(upstream);
      registries.push({ prefix: upstream, location: upstream, insecure: true });
    }
  }
  if (plain.size > 0)
    notes.push(
      `[[registry]] entries for ${[...plain].join(", ")} (no mirrors) are added only to mark the plain-HTTP stand-in insecure; a node reaches the registry over HTTPS without one`,
    );
  if (config.ignoredKeys.length > 0)
    notes.push(
      `${config.ignoredKeys.join(", ")} left out: they only matter for short names, and every image is pulled fully qualified`,
    );
  notes.push(
    "every location becomes a plain-HTTP stand-in on 127.0.0.1 (insecure = true); prefixes are rewritten to the registry's stand-in and images are pulled as 127.0.0.1:PORT/...",
  );
  const text = stringify({ registry: registries });
  const files = { "registries.conf": text };
  mkdirSync(dir, { recursive: true });
  write(dir, files);
  return { files, configPath: join(dir, "registries.conf"), pulledAs: out, notes };
}

/**
 * Every host the translated files and references could make a program
 * contact, that is not on loopback. Empty, or the check does not run.
 */
export function loopbackViolations(translation: Translation): string[] {
  const bad: string[] = [];
  const hostOf = (value: string): string => {
    const parsed = parseEndpoint(value.includes("://") ? value : `https://${value.split("/")[0]}`);
    return "error" in parsed ? value : parsed.host;
  };
  const check = (where: string, value: unknown) => {
    if (typeof value !== "string" || !isLoopbackHost(hostOf(value)))
      bad.push(`${where}: ${String(value)}`);
  };
  for (const [image, ref] of Object.entries(translation.pulledAs)) check(`image ${image}`, ref);
  for (const [rel, text] of Object.entries(translation.files)) {
    if (rel.endsWith(".keep")) {
      const d = rel.split("/")[0] ?? "";
      if (d !== "_default") check(`${rel} (directory)`, d);
      continue;
    }
    const doc = parseToml(text) as Table;
    if (rel.endsWith("hosts.toml")) {
      const d = rel.split("/")[0] ?? "";
      if (d !== "_default") check(`${rel} (directory)`, d);
      if (doc.server !== undefined) check(`${rel}: server`, doc.server);
      if (isTable(doc.host)) for (const k of Object.keys(doc.host)) check(`${rel}: host`, k);
      for (const k of Object.keys(doc))
        if (!["server", "host", "capabilities", "header", "override_path"].includes(k))
          bad.push(`${rel}: unexpected key ${k}`);
    } else {
      const list = Array.isArray(doc.registry) ? (doc.registry as Table[]) : [];
      for (const [i, r] of list.entries()) {
        check(`${rel}: registry[${i}].prefix`, r.prefix);
        check(`${rel}: registry[${i}].location`, r.location);
        const mirrors = Array.isArray(r.mirror) ? (r.mirror as Table[]) : [];
        for (const [j, m] of mirrors.entries())
          check(`${rel}: registry[${i}].mirror[${j}].location`, m.location);
      }
      for (const k of Object.keys(doc))
        if (k !== "registry") bad.push(`${rel}: unexpected key ${k}`);
    }
  }
  return bad;
}
