/**
 * The shape of a check-mirror report (`--json`, check-mirror.json). Stable:
 * fields are only ever added; docs/check-mirror.md describes each one.
 */
import type { RuntimeModel } from "../simulator/client/runtimes.ts";
import type { Reached, RequestRecord } from "./stand-ins.ts";

export const REPORT_SCHEMA = "pullstorm.check-mirror/v1";

/** The runtimes, named as everywhere in the project (simulator/client/runtimes.ts). */
export type Runtime = RuntimeModel["name"];
export const RUNTIME_NAMES: readonly Runtime[] = ["containerd", "dockerd", "cri-o"];
/** Other names --runtime accepts: `docker` is dockerd. */
export const RUNTIME_ALIASES: Readonly<Record<string, Runtime>> = { docker: "dockerd" };

export type ConfigKind = "hosts-dir" | "daemon-json" | "registries-conf";

/** The configuration each runtime reads (and the only one it reads). */
export const READS: Record<Runtime, ConfigKind> = {
  containerd: "hosts-dir",
  dockerd: "daemon-json",
  "cri-o": "registries-conf",
};

export const CONFIG_FLAG: Record<ConfigKind, string> = {
  "hosts-dir": "--hosts-dir",
  "daemon-json": "--daemon-json",
  "registries-conf": "--registries-conf",
};

export const CONFIG_NAME: Record<ConfigKind, string> = {
  "hosts-dir": "a containerd hosts directory (certs.d/<registry>/hosts.toml)",
  "daemon-json": "Docker's daemon.json",
  "registries-conf": "containers' registries.conf",
};

/** Which host a pull's requests reached. */
export type Verdict = "mirror" | "upstream" | "both" | "failed";

/** Requests at one kind of host during one pull, by what they asked for. */
export interface Tally {
  requests: number;
  manifestsByTag: number;
  manifestsByDigest: number;
  blobs: number;
  tokens: number;
  /** /v2/ pings and anything else. */
  other: number;
  /** Answered >= 400, or cut (unreachable). */
  failed: number;
  /** Counted against the registry's pull limit (Docker Hub: manifest GETs). */
  counted: number;
  /** The configured names the requests went to. */
  hosts: string[];
}

export interface CheckedPull {
  /** The runtime's pull succeeded. */
  ok: boolean;
  /** The program's exit code (null when killed or for a model). */
  exitCode: number | null;
  /** The last error line when it failed. */
  error?: string;
  verdict: Verdict;
  /** Lines the program logged about hosts it tried (containerd: "trying next host"). */
  log: string[];
  upstream: Tally;
  mirror: Tally;
  /** What the mirror itself fetched from the registry to serve this pull. */
  mirrorUpstream: Tally;
  seconds: number;
}

export type FallbackResult =
  | (CheckedPull & {
      /** fell-back-upstream: pulled from the registry; failed: no image; mirror: served anyway. */
      outcome: "fell-back-upstream" | "failed" | "mirror";
      /** The pull succeeded without an error the caller could see. */
      silent: boolean;
    })
  | { skipped: string };

export interface ImageResult {
  /** The image as given (normalised: docker.io/library/nginx:1.25). */
  image: string;
  /** The reference the runtime was given, on the loopback stand-in of the image's registry. */
  pulledAs: string;
  /** What the configuration makes of this image, before anything runs. */
  configured: {
    /** The file or entry that applies (certs.d/docker.io/hosts.toml, registry[0], registry-mirrors). */
    source: string | null;
    /** The hosts the runtime will try, in order, as configured. */
    hosts: Array<{ host: string; role: "mirror" | "upstream"; for: string[]; from: string }>;
  };
  pull: CheckedPull;
  fallback: FallbackResult;
}

export type Severity = "critical" | "warning" | "info";

export interface CheckFinding {
  /** Stable identifier, e.g. config-for-other-runtime, tags-resolved-upstream. */
  id: string;
  severity: Severity;
  title: string;
  /** What was seen, with the evidence. */
  detail: string;
  /** What to change; configuration snippets included. */
  fix?: string;
  images: string[];
}

export interface StandInDescription {
  /** The name in the configuration. */
  name: string;
  role: Reached;
  /** Where it listens on loopback. */
  url: string;
  /** For mirrors: up, or unknown-host (not one of --mirror). */
  state?: string;
}

export interface CheckMirrorReport {
  schema: typeof REPORT_SCHEMA;
  runtime: Runtime;
  config: { kind: ConfigKind; path: string; readByRuntime: boolean };
  /** What pulled: the real program or a model, and why a model. */
  driver: { kind: "real" | "model"; program: string; version?: string; reason?: string };
  mirror: {
    backend: "process" | "model";
    program?: string;
    version?: string;
    reason?: string;
    serves: "all" | "digests";
  };
  standIns: StandInDescription[];
  /** The loopback copy of the configuration the runtime was given, file by file. */
  translation: { files: Record<string, string>; notes: string[] };
  images: ImageResult[];
  findings: CheckFinding[];
  /** mirror when every image was pulled through a mirror only; upstream otherwise. */
  verdict: "mirror" | "upstream";
  exitCode: 0 | 1;
  /** Every request every stand-in saw. */
  requests: RequestRecord[];
}
