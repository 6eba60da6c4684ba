/**
 * A containerd hosts directory (`/etc/containerd/certs.d`): one directory per
 * registry, named as the registry appears in image references (docker.io, not
 * registry-1.docker.io), each with a hosts.toml. Read the way containerd 1.6
 * reads it (remotes/docker/config/hosts.go): `[host."..."]` tables in file
 * order, then `server`; without `server`, the registry itself is appended.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "../../vocabulary/config/yaml-file.ts";
import { type Endpoint, hostDirectoryName, parseEndpoint } from "../endpoints.ts";
import { describeValue, isTable, parseTomlFile, readText, type Table, tomlKey } from "./read.ts";

export type Capability = "pull" | "resolve" | "push";
export const CAPABILITIES: readonly Capability[] = ["pull", "resolve", "push"];

export interface HostEntry {
  /** The `[host."..."]` key as written. */
  key: string;
  endpoint: Endpoint;
  capabilities: Capability[];
  /** False when the entry has no `capabilities` (or an empty list): containerd then grants all three. */
  capabilitiesWritten: boolean;
}

export interface HostsNamespace {
  /** The directory name: the registry it configures ("docker.io", "_default", "myreg_5000_"). */
  dir: string;
  /** hosts.toml as the user would name it (under the path given), when present and not empty. */
  file?: string;
  server?: Endpoint;
  /** Top-level `capabilities` of the server entry. */
  serverCapabilities?: Capability[];
  hosts: HostEntry[];
  /** The parsed file, rewritten key by key for the loopback copy. */
  document?: Table;
  /**
   * No `[host]` table at all. containerd 1.6 (getSortedHosts) then fails with
   * "invalid `host` tree", logs "failed to decode hosts.toml" and ignores the file.
   */
  noHostTables: boolean;
  /** Keys containerd does not know (it ignores them silently), as dotted paths. */
  unknownKeys: string[];
  /** Other files in the directory (certificates, a misnamed host.toml). */
  otherFiles: string[];
}

export interface HostsDirConfig {
  kind: "hosts-dir";
  /** The directory as given. */
  path: string;
  namespaces: HostsNamespace[];
  /** Files directly in the directory (a hosts.toml here is never read). */
  rootFiles: string[];
}

const ENTRY_KEYS = new Set([
  "capabilities",
  "ca",
  "client",
  "skip_verify",
  "header",
  "override_path",
]);
const ROOT_KEYS = new Set([...ENTRY_KEYS, "server", "host"]);

/** Reads and validates a hosts directory; throws ConfigError with every problem found. */
export function loadHostsDir(path: string): HostsDirConfig {
  let entries: string[];
  try {
    if (!statSync(path).isDirectory()) throw new ConfigError([`${path}: not a directory`]);
    entries = readdirSync(path).sort();
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError([
      `${path}: cannot read the hosts directory (${code === "ENOENT" ? "no such directory" : (code ?? "unknown error")})`,
    ]);
  }
  const problems: string[] = [];
  const namespaces: HostsNamespace[] = [];
  const rootFiles: string[] = [];
  for (const name of entries) {
    const full = join(path, name);
    if (!statSync(full).isDirectory()) {
      rootFiles.push(name);
      continue;
    }
    namespaces.push(readNamespace(path, name, problems));
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { kind: "hosts-dir", path, namespaces, rootFiles };
}

function readNamespace(root: string, dir: string, problems: string[]): HostsNamespace {
  const full = join(root, dir);
  const files = readdirSync(full).sort();
  const ns: HostsNamespace = {
    dir,
    hosts: [],
    noHostTables: false,
    unknownKeys: [],
    otherFiles: files.filter((f) => f !== "hosts.toml"),
  };
  const tomlPath = join(full, "hosts.toml");
  if (!existsSync(tomlPath)) return ns;
  const file = join(root, dir, "hosts.toml");
  const text = readText(file);
  // containerd treats an empty hosts.toml like a missing one (certificates only).
  if (text.length === 0) return ns;
  let doc: Table;
  try {
    doc = parseTomlFile(text, file);
  } catch (error) {
    if (error instanceof ConfigError) problems.push(...error.problems);
    return ns;
  }
  ns.file = file;
  ns.document = doc;
  const before = problems.length;
  for (const key of Object.keys(doc)) if (!ROOT_KEYS.has(key)) ns.unknownKeys.push(tomlKey(key));
  if (doc.server !== undefined) {
    if (typeof doc.server !== "string")
      problems.push(`${file}: server: expected a URL string, got ${describeValue(doc.server)}`);
    else {
      const parsed = parseEndpoint(doc.server);
      if ("error" in parsed) problems.push(`${file}: server: ${parsed.error}`);
      else ns.server = parsed;
    }
  }
  const rootEntry = checkEntry(doc, file, "", problems);
  if (rootEntry.written) ns.serverCapabilities = rootEntry.capabilities;
  if (doc.host === undefined) ns.noHostTables = true;
  else if (!isTable(doc.host))
    problems.push(
      `${file}: host: expected tables like [host."https://mirror.example:5000"], got ${describeValue(doc.host)}`,
    );
  else {
    for (const [key, value] of Object.entries(doc.host)) {
      const where = `host.${tomlKey(key)}`;
      if (!isTable(value)) {
        problems.push(`${file}: ${where}: expected a table, got ${describeValue(value)}`);
        continue;
      }
      const endpoint = parseEndpoint(key);
      if ("error" in endpoint) {
        problems.push(`${file}: ${where}: ${endpoint.error}`);
        continue;
      }
      for (const k of Object.keys(value))
        if (!ENTRY_KEYS.has(k)) ns.unknownKeys.push(`${where}.${tomlKey(k)}`);
      const entry = checkEntry(value, file, `${where}.`, problems);
      ns.hosts.push({
        key,
        endpoint,
        capabilities: entry.capabilities,
        capabilitiesWritten: entry.written,
      });
    }
  }
  if (problems.length > before) return { ...ns, hosts: [] };
  return ns;
}

/** The fields a host entry and the root share; containerd refuses the file on any of these errors. */
function checkEntry(
  table: Table,
  file: string,
  where: string,
  problems: string[],
): { capabilities: Capability[]; written: boolean } {
  let capabilities: Capability[] = [...CAPABILITIES];
  let written = false;
  const caps = table.capabilities;
  if (caps !== undefined) {
    const valid =
      Array.isArray(caps) &&
      caps.every(
        (c) => typeof c === "string" && (CAPABILITIES as string[]).includes(c.toLowerCase()),
      );
    if (!valid)
      problems.push(
        `${file}: ${where}capabilities: expected a list of "pull"|"resolve"|"push", got ${describeValue(caps)}${Array.isArray(caps) ? ` (${caps.map((c) => JSON.stringify(c)).join(", ")})` : ""}`,
      );
    // containerd: an empty list means all capabilities.
    else if (caps.length > 0) {
      capabilities = [...new Set(caps.map((c) => (c as string).toLowerCase() as Capability))];
      written = true;
    }
  }
  for (const key of ["skip_verify", "override_path"]) {
    if (table[key] !== undefined && typeof table[key] !== "boolean")
      problems.push(
        `${file}: ${where}${key}: expected true or false, got ${describeValue(table[key])}`,
      );
  }
  const ca = table.ca;
  if (ca !== undefined && !isStringOrStrings(ca))
    problems.push(
      `${file}: ${where}ca: expected a file path or a list of them, got ${describeValue(ca)}`,
    );
  const client = table.client;
  if (
    client !== undefined &&
    !(
      typeof client === "string" ||
      (Array.isArray(client) &&
        client.every(
          (c) =>
            typeof c === "string" ||
            (Array.isArray(c) && c.length === 2 && c.every((p) => typeof p === "string")),
        ))
    )
  )
    problems.push(
      `${file}: ${where}client: expected a file path, a list of them, or a list of [cert, key] pairs`,
    );
  const header = table.header;
  if (header !== undefined) {
    if (!isTable(header))
      problems.push(
        `${file}: ${where}header: expected a table of header names, got ${describeValue(header)}`,
      );
    else
      for (const [name, value] of Object.entries(header))
        if (!isStringOrStrings(value))
          problems.push(
            `${file}: ${where}header.${tomlKey(name)}: expected a string or a list of strings, got ${describeValue(value)}`,
          );
  }
  return { capabilities, written };
}

function isStringOrStrings(value: unknown): boolean {
  return (
    typeof value === "string" || (Array.isArray(value) && value.every((v) => typeof v === "string"))
  );
}

/**
 * The directory containerd reads for a registry (hostPaths): "host_port_",
 * then "host:port", then "_default"; undefined when none exists.
 */
export function namespaceFor(config: HostsDirConfig, registry: string): HostsNamespace | undefined {
  const candidates = [hostDirectoryName(registry), registry, "_default"];
  for (const name of candidates) {
    const found = config.namespaces.find((n) => n.dir === name);
    if (found) return found;
  }
  return undefined;
}

/**
 * The hosts containerd tries for a registry, in order, as it would build them:
 * the `[host]` entries, then `server`, or the registry itself when `server` is
 * missing. `ignored` when containerd 1.6 cannot decode the file.
 */
export interface EffectiveHost {
  endpoint: Endpoint | "registry";
  capabilities: Capability[];
  from: "host" | "server" | "default";
}

export function effectiveHosts(ns: HostsNamespace | undefined): EffectiveHost[] {
  const fallback: EffectiveHost = {
    endpoint: "registry",
    capabilities: [...CAPABILITIES],
    from: "default",
  };
  if (!ns?.document || ns.noHostTables) return [fallback];
  const hosts: EffectiveHost[] = ns.hosts.map((h) => ({
    endpoint: h.endpoint,
    capabilities: h.capabilities,
    from: "host",
  }));
  hosts.push(
    ns.server
      ? {
          endpoint: ns.server,
          capabilities: ns.serverCapabilities ?? [...CAPABILITIES],
          from: "server",
        }
      : fallback,
  );
  return hosts;
}
