/**
 * containers-registries.conf(5) (/etc/containers/registries.conf), read by
 * CRI-O, podman and skopeo through containers/image: `[[registry]]` tables
 * matched by the longest `prefix`, each with `[[registry.mirror]]` entries tried
 * in order before the registry's own `location`. Only the v2 format has mirrors.
 */
import { ConfigError } from "../../vocabulary/config/yaml-file.ts";
import { describeValue, isTable, parseTomlFile, readText, type Table, tomlKey } from "./read.ts";

export type PullFromMirror = "all" | "digest-only" | "tag-only";

export interface RegistryMirror {
  location: string;
  insecure: boolean;
  pullFromMirror: PullFromMirror;
  /** Whether pull-from-mirror was written (for the loopback copy). */
  pullFromMirrorWritten: boolean;
}

export interface RegistryEntry {
  /** 0-based position among the [[registry]] tables, for messages. */
  index: number;
  /** The prefix references are matched against (defaults to the location). */
  prefix: string;
  /** Where the registry itself is reached; "" for a wildcard prefix without one. */
  location: string;
  insecure: boolean;
  blocked: boolean;
  mirrorByDigestOnly: boolean;
  mirrors: RegistryMirror[];
}

export interface RegistriesConfConfig {
  kind: "registries-conf";
  path: string;
  /** The old v1 format ([registries.search] ...): it cannot express mirrors. */
  v1: boolean;
  registries: RegistryEntry[];
  /** Top-level keys that do not matter for fully qualified pulls (aliases, search registries). */
  ignoredKeys: string[];
  unknownKeys: string[];
}

const TOP_KEYS = new Set([
  "registry",
  "registries",
  "unqualified-search-registries",
  "short-name-mode",
  "aliases",
  "credential-helpers",
  "additional-layer-store-auth-helper",
]);
const REGISTRY_KEYS = new Set([
  "prefix",
  "location",
  "insecure",
  "blocked",
  "mirror-by-digest-only",
  "mirror",
]);
const MIRROR_KEYS = new Set(["location", "insecure", "pull-from-mirror"]);
const PULL_FROM_MIRROR: PullFromMirror[] = ["all", "digest-only", "tag-only"];
const LOCATION = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?(?:\/[a-z0-9._/-]*)?$/;

export function loadRegistriesConf(path: string): RegistriesConfConfig {
  const doc = parseTomlFile(readText(path), path);
  const problems: string[] = [];
  const config: RegistriesConfConfig = {
    kind: "registries-conf",
    path,
    v1: false,
    registries: [],
    ignoredKeys: [],
    unknownKeys: [],
  };
  for (const key of Object.keys(doc)) {
    if (!TOP_KEYS.has(key)) config.unknownKeys.push(tomlKey(key));
    else if (key !== "registry" && key !== "registries") config.ignoredKeys.push(key);
  }
  if (doc.registries !== undefined) {
    if (!isTable(doc.registries))
      problems.push(`${path}: registries: expected the v1 tables [registries.search] ...`);
    config.v1 = true;
    if (doc.registry !== undefined)
      problems.push(
        `${path}: registries: the v1 format ([registries.search], [registries.insecure], [registries.block]) cannot be mixed with [[registry]] tables; containers/image refuses the file`,
      );
  }
  const list = doc.registry;
  if (list !== undefined) {
    if (!Array.isArray(list) || !list.every(isTable))
      problems.push(
        `${path}: registry: expected [[registry]] tables, got ${describeValue(list)} (write [[registry]], not [registry])`,
      );
    else
      for (const [i, table] of list.entries())
        readRegistry(table as Table, i, path, config, problems);
  }
  const prefixes = new Map<string, number>();
  for (const r of config.registries) {
    const seen = prefixes.get(r.prefix);
    if (seen !== undefined)
      problems.push(
        `${path}: registry[${r.index}].prefix: "${r.prefix}" is also the prefix of registry[${seen}]; containers/image refuses duplicate prefixes`,
      );
    else prefixes.set(r.prefix, r.index);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

function readRegistry(
  table: Table,
  index: number,
  path: string,
  config: RegistriesConfConfig,
  problems: string[],
): void {
  const where = `${path}: registry[${index}]`;
  for (const k of Object.keys(table))
    if (!REGISTRY_KEYS.has(k)) config.unknownKeys.push(`registry[${index}].${tomlKey(k)}`);
  const str = (key: string): string | undefined => {
    const v = table[key];
    if (v === undefined) return undefined;
    if (typeof v !== "string") {
      problems.push(`${where}.${key}: expected a string, got ${describeValue(v)}`);
      return undefined;
    }
    return v.trim().replace(/\/+$/, "");
  };
  const bool = (t: Table, key: string, at: string): boolean => {
    const v = t[key];
    if (v === undefined) return false;
    if (typeof v !== "boolean") {
      problems.push(`${at}.${key}: expected true or false, got ${describeValue(v)}`);
      return false;
    }
    return v;
  };
  const location = str("location") ?? "";
  const prefix = str("prefix") || location;
  if (!prefix) {
    problems.push(`${where}: needs a location (or a prefix); both are empty`);
    return;
  }
  if (location) checkLocation(location, `${where}.location`, problems);
  if (prefix.startsWith("*.")) {
    if (!/^\*\.[A-Za-z0-9.-]+$/.test(prefix))
      problems.push(
        `${where}.prefix: "${prefix}": a wildcard prefix is "*.example.com" with nothing after the host`,
      );
  } else checkLocation(prefix, `${where}.prefix`, problems);
  const mirrorByDigestOnly = bool(table, "mirror-by-digest-only", where);
  const mirrors: RegistryMirror[] = [];
  const rawMirrors = table.mirror;
  if (rawMirrors !== undefined) {
    if (!Array.isArray(rawMirrors) || !rawMirrors.every(isTable))
      problems.push(`${where}.mirror: expected [[registry.mirror]] tables`);
    else
      rawMirrors.forEach((m, j) => {
        const at = `${where}.mirror[${j}]`;
        for (const k of Object.keys(m))
          if (!MIRROR_KEYS.has(k))
            config.unknownKeys.push(`registry[${index}].mirror[${j}].${tomlKey(k)}`);
        const loc = m.location;
        if (typeof loc !== "string" || !loc.trim()) {
          problems.push(`${at}.location: expected the mirror's host[:port][/namespace]`);
          return;
        }
        const mirrorLocation = loc.trim().replace(/\/+$/, "");
        checkLocation(mirrorLocation, `${at}.location`, problems);
        const pfm = m["pull-from-mirror"];
        if (pfm !== undefined && !PULL_FROM_MIRROR.includes(pfm as PullFromMirror))
          problems.push(
            `${at}.pull-from-mirror: expected "all"|"digest-only"|"tag-only", got ${describeValue(pfm)}`,
          );
        if (pfm !== undefined && mirrorByDigestOnly)
          problems.push(
            `${at}.pull-from-mirror: cannot be combined with mirror-by-digest-only = true on the registry; containers/image refuses the file`,
          );
        mirrors.push({
          location: mirrorLocation,
          insecure: bool(m, "insecure", at),
          pullFromMirror: (pfm as PullFromMirror | undefined) ?? "all",
          pullFromMirrorWritten: pfm !== undefined,
        });
      });
  }
  config.registries.push({
    index,
    prefix,
    location,
    insecure: bool(table, "insecure", where),
    blocked: bool(table, "blocked", where),
    mirrorByDigestOnly,
    mirrors,
  });
}

function checkLocation(value: string, where: string, problems: string[]): void {
  if (value.includes("://")) {
    problems.push(
      `${where}: "${value}": a location is host[:port][/namespace] without a scheme (write ${value.replace(/^[a-z]+:\/\//i, "")}; use insecure = true for plain HTTP)`,
    );
    return;
  }
  if (!LOCATION.test(value)) problems.push(`${where}: "${value}" is not host[:port][/namespace]`);
}

/**
 * containers/image's refMatchesPrefix: the prefix matches the repository name
 * exactly or up to a ":", "/" or "@"; "*.example.com" matches any host under it.
 */
export function prefixMatches(name: string, prefix: string): boolean {
  if (prefix.startsWith("*.")) {
    const host = name.split("/")[0] ?? "";
    return host.endsWith(prefix.slice(1));
  }
  if (name.length < prefix.length) return false;
  if (name.length === prefix.length) return name === prefix;
  if (!name.startsWith(prefix)) return false;
  const c = name[prefix.length];
  return c === ":" || c === "/" || c === "@";
}

/** The [[registry]] containers/image uses for a repository name ("docker.io/library/nginx"): the longest matching prefix. */
export function registryFor(config: RegistriesConfConfig, name: string): RegistryEntry | undefined {
  let best: RegistryEntry | undefined;
  for (const r of config.registries)
    if (prefixMatches(name, r.prefix) && (!best || r.prefix.length > best.prefix.length)) best = r;
  return best;
}

/** The mirrors containers/image tries for a reference (PullSourcesFromReference), in order, before the registry itself. */
export function mirrorsFor(entry: RegistryEntry, digested: boolean): RegistryMirror[] {
  if (entry.mirrorByDigestOnly) return digested ? entry.mirrors : [];
  return entry.mirrors.filter(
    (m) =>
      m.pullFromMirror === "all" ||
      (m.pullFromMirror === "digest-only" && digested) ||
      (m.pullFromMirror === "tag-only" && !digested),
  );
}
