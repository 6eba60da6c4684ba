/**
 * Docker Engine's /etc/docker/daemon.json, the part about pulling: `registry-mirrors`
 * (Docker Hub images only) and `insecure-registries`. Validated as dockerd does
 * (registry.ValidateMirror): a mirror is an http(s) URL without credentials,
 * query or fragment, or dockerd refuses to start.
 */
import { ConfigError } from "../../vocabulary/config/yaml-file.ts";
import { type Endpoint, parseEndpoint } from "../endpoints.ts";
import { describeValue, isTable, readText } from "./read.ts";

export interface DaemonJsonConfig {
  kind: "daemon-json";
  path: string;
  mirrors: Endpoint[];
  insecureRegistries: string[];
}

/** Keys people write for mirrors that dockerd does not know (and refuses to start with). */
const MISSPELLED = /mirror/i;

export function loadDaemonJson(path: string): DaemonJsonConfig {
  const text = readText(path);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw new ConfigError([`${path}: not valid JSON (${(error as Error).message})`]);
  }
  if (!isTable(doc))
    throw new ConfigError([
      `${path}: expected a JSON object like {"registry-mirrors": ["https://mirror.example:5000"]}`,
    ]);
  const problems: string[] = [];
  for (const key of Object.keys(doc))
    if (key !== "registry-mirrors" && MISSPELLED.test(key))
      problems.push(
        `${path}: ${key}: dockerd does not know this key and refuses to start; the key is "registry-mirrors"`,
      );
  const mirrors: Endpoint[] = [];
  const raw = doc["registry-mirrors"];
  if (raw !== undefined) {
    if (!Array.isArray(raw))
      problems.push(
        `${path}: registry-mirrors: expected a list of URLs, got ${describeValue(raw)}`,
      );
    else
      raw.forEach((value, i) => {
        const where = `${path}: registry-mirrors[${i}]`;
        if (typeof value !== "string") {
          problems.push(`${where}: expected a URL string, got ${describeValue(value)}`);
          return;
        }
        if (!/^https?:\/\//i.test(value.trim())) {
          problems.push(
            `${where}: "${value}" has no http:// or https:// scheme; dockerd refuses to start (write https://${value.trim()})`,
          );
          return;
        }
        const parsed = parseEndpoint(value);
        if ("error" in parsed) problems.push(`${where}: ${parsed.error}`);
        else mirrors.push(parsed);
      });
  }
  const insecure = doc["insecure-registries"];
  const insecureRegistries: string[] = [];
  if (insecure !== undefined) {
    if (!Array.isArray(insecure) || !insecure.every((v) => typeof v === "string"))
      problems.push(
        `${path}: insecure-registries: expected a list of host[:port] or CIDR strings, got ${describeValue(insecure)}`,
      );
    else insecureRegistries.push(...insecure);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { kind: "daemon-json", path, mirrors, insecureRegistries };
}
