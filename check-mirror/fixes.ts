/** Configuration snippets for fixes: the same mirrors, written for the runtime the nodes run. */

import { DOCKER_HUB } from "../vocabulary/oci/reference.ts";
import type { Endpoint } from "./endpoints.ts";
import type { Runtime } from "./types.ts";

function url(m: Endpoint): string {
  return `${m.scheme}://${m.host}${m.path}`;
}

const HUB_SERVER = "https://registry-1.docker.io";

/** The registry's own server URL for hosts.toml. */
function serverOf(registry: string): string {
  return registry === DOCKER_HUB ? HUB_SERVER : `https://${registry}`;
}

/** certs.d/<registry>/hosts.toml plus the config.toml line without which the CRI plugin never reads it. */
export function hostsTomlFix(
  mirrors: Endpoint[],
  registry = DOCKER_HUB,
  options: { server?: string } = {},
): string {
  const lines = [
    `# /etc/containerd/certs.d/${registry}/hosts.toml (the registry as in image references)`,
    `server = "${options.server ?? serverOf(registry)}"`,
  ];
  for (const m of mirrors.length > 0
    ? mirrors
    : [{ scheme: "https", host: "mirror.example:5000", path: "", raw: "" } as Endpoint])
    lines.push("", `[host."${url(m)}"]`, `  capabilities = ["pull", "resolve"]`);
  lines.push(
    "",
    "# /etc/containerd/config.toml: kubelet's pulls read certs.d only with config_path",
    '[plugins."io.containerd.grpc.v1.cri".registry]',
    '  config_path = "/etc/containerd/certs.d"',
  );
  return lines.join("\n");
}

export function registriesConfFix(mirrors: Endpoint[], registry = DOCKER_HUB): string {
  const lines = [
    "# /etc/containers/registries.conf (or a drop-in under registries.conf.d/)",
    "[[registry]]",
    `prefix = "${registry}"`,
    `location = "${registry === DOCKER_HUB ? "registry-1.docker.io" : registry}"`,
  ];
  for (const m of mirrors.length > 0
    ? mirrors
    : [{ scheme: "https", host: "mirror.example:5000", path: "", raw: "" } as Endpoint]) {
    lines.push("", "[[registry.mirror]]", `location = "${m.host}${m.path}"`);
    if (m.scheme === "http") lines.push("insecure = true");
  }
  return lines.join("\n");
}

export function daemonJsonFix(mirrors: Endpoint[]): string {
  const list = (mirrors.length > 0 ? mirrors.map(url) : ["https://mirror.example:5000"]).map((u) =>
    JSON.stringify(u),
  );
  return [
    "# /etc/docker/daemon.json (Docker Hub images only), then restart dockerd",
    `{ "registry-mirrors": [${list.join(", ")}] }`,
  ].join("\n");
}

/** The configuration the nodes' runtime reads, with these mirrors. */
export function configFixFor(runtime: Runtime, mirrors: Endpoint[], registry = DOCKER_HUB): string {
  switch (runtime) {
    case "containerd":
      return hostsTomlFix(mirrors, registry);
    case "cri-o":
      return registriesConfFix(mirrors, registry);
    case "dockerd":
      return daemonJsonFix(mirrors);
  }
}
