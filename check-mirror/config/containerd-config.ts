/**
 * containerd's /etc/containerd/config.toml, the one line that matters here:
 * the CRI plugin's registry `config_path` (version 2: plugins."io.containerd.grpc.v1.cri".registry,
 * version 3: plugins."io.containerd.cri.v1.images".registry). Without it,
 * kubelet's pulls never read a hosts.toml.
 */
import { ConfigError } from "../../vocabulary/config/yaml-file.ts";
import { describeValue, isTable, parseTomlFile, readText, type Table } from "./read.ts";

export interface ContainerdConfig {
  path: string;
  version: number;
  configPath?: string;
  /** The deprecated registry.mirrors tables are present. */
  legacyMirrors: boolean;
}

export function loadContainerdConfig(path: string): ContainerdConfig {
  const doc = parseTomlFile(readText(path), path);
  const version = doc.version === undefined ? 1 : doc.version;
  if (typeof version !== "number")
    throw new ConfigError([`${path}: version: expected a number, got ${describeValue(version)}`]);
  const plugins = isTable(doc.plugins) ? doc.plugins : {};
  const section =
    version >= 3
      ? "io.containerd.cri.v1.images"
      : version === 2
        ? "io.containerd.grpc.v1.cri"
        : "cri";
  const plugin = isTable(plugins[section]) ? (plugins[section] as Table) : {};
  const registry = isTable(plugin.registry) ? (plugin.registry as Table) : {};
  const configPath = registry.config_path;
  if (configPath !== undefined && typeof configPath !== "string")
    throw new ConfigError([
      `${path}: plugins."${section}".registry.config_path: expected a directory path, got ${describeValue(configPath)}`,
    ]);
  return {
    path,
    version,
    ...(configPath ? { configPath } : {}),
    legacyMirrors: isTable(registry.mirrors) && Object.keys(registry.mirrors).length > 0,
  };
}
