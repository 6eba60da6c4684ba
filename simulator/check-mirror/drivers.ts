/**
 * What pulls: the real program where it is installed (containerd's `ctr
 * content fetch --hosts-dir`, skopeo with `--registries-conf` for CRI-O's
 * containers/image), otherwise the model (model-puller.ts), always for dockerd.
 * Every driver pulls one image into fresh, empty local storage, so each pull
 * makes every request a cold node would.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { runCommand } from "../util/processes.ts";
import { cleanEnv, type PrivateContainerd } from "./containerd.ts";
import { hostArchitecture, type ModelHost, modelPull } from "./model-puller.ts";
import type { ImagePlan } from "./plan.ts";
import type { StandInMap } from "./translate.ts";
import { standInFor } from "./translate.ts";
import type { Runtime } from "./types.ts";

export interface DriverOutcome {
  ok: boolean;
  exitCode: number | null;
  error?: string;
  /** What the program said about the hosts it tried, one line each. */
  log: string[];
}

export interface Driver {
  kind: "real" | "model";
  program: string;
  version?: string;
  reason?: string;
  pull(plan: ImagePlan, reference: string): Promise<DriverOutcome>;
}

/** The version a program prints, or undefined when it is not installed. Never throws. */
export async function programVersion(program: string, args: string[]): Promise<string | undefined> {
  try {
    const r = await runCommand(program, args, { timeoutMs: 10_000, env: cleanEnv() });
    if (r.status !== 0) return undefined;
    return /(\d+\.\d+\.\d+)/.exec(r.stdout + r.stderr)?.[1] ?? "unknown";
  } catch {
    return undefined;
  }
}

/** What a program logged (logrus lines above debug), each distinct line once. */
export function programLog(stderr: string): string[] {
  const lines: string[] = [];
  for (const l of stderr.split("\n")) {
    const parsed = logrusLine(l);
    if (parsed && parsed.level !== "debug") lines.push(parsed.text);
  }
  return collapse(lines);
}

/** Identical lines once each, with how many times they came ("(2x)"). */
export function collapse(lines: string[]): string[] {
  const counts = new Map<string, number>();
  for (const l of lines) counts.set(l, (counts.get(l) ?? 0) + 1);
  return [...counts].map(([l, n]) => (n > 1 ? `${l} (${n}x)` : l));
}

/** One logrus line (`time=... level=info msg="trying next host" error="..." host=...`) in a few words. */
export function logrusLine(line: string): { level: string; text: string } | undefined {
  const level = /\blevel=(\w+)/.exec(line)?.[1];
  if (!level) return undefined;
  const field = (name: string) => {
    const m = new RegExp(`\\b${name}=(?:"((?:[^"\\\\]|\\\\.)*)"|(\\S+))`).exec(line);
    const v = m?.[1] ?? m?.[2];
    return v?.replace(/\\"/g, '"');
  };
  const msg = field("msg") ?? line;
  const host = field("host");
  const error = field("error");
  return {
    level,
    text: `${level}: ${msg}${host ? ` ${host}` : ""}${error ? `: ${error}` : ""}`,
  };
}

function lastLine(text: string): string | undefined {
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  const line = lines.at(-1);
  if (!line) return undefined;
  return logrusLine(line)?.text ?? line;
}

/** containerd through `ctr content fetch --hosts-dir`, each pull in a namespace of its own. */
export function ctrDriver(
  containerd: PrivateContainerd,
  hostsDir: string,
  version: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Driver {
  const run = randomBytes(4).toString("hex");
  let n = 0;
  return {
    kind: "real",
    program: "ctr",
    version,
    async pull(_plan, reference) {
      const namespace = `pullstorm-check-${run}-${++n}`;
      const r = await containerd.ctr(
        namespace,
        ["content", "fetch", "--hosts-dir", hostsDir, reference],
        timeoutMs,
        signal,
      );
      const log = programLog(r.stderr);
      const ok = r.status === 0;
      const error = ok
        ? undefined
        : r.signal
          ? `ctr killed after ${Math.round(timeoutMs / 1000)} s`
          : lastLine(r.stderr);
      return { ok, exitCode: r.status, ...(error ? { error } : {}), log };
    },
  };
}

/** containers/image through `skopeo copy` with the loopback registries.conf and nothing else from this machine. */
export function skopeoDriver(
  registriesConf: string,
  workDir: string,
  version: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Driver {
  const home = join(workDir, "home");
  // An empty per-user drop-in directory: containers/image then reads it instead of /etc/containers/registries.conf.d.
  mkdirSync(join(home, ".config", "containers", "registries.conf.d"), { recursive: true });
  const registriesD = join(workDir, "registries.d");
  mkdirSync(registriesD, { recursive: true });
  let n = 0;
  return {
    kind: "real",
    program: "skopeo",
    version,
    async pull(_plan, reference) {
      const dest = join(workDir, `copy-${++n}`);
      const args = [
        "--registries-conf",
        registriesConf,
        "--registries.d",
        registriesD,
        "--insecure-policy",
        "--tmpdir",
        workDir,
        "copy",
        "--retry-times",
        "0",
        `docker://${reference}`,
        `dir:${dest}`,
      ];
      try {
        const r = await runCommand("skopeo", args, {
          timeoutMs,
          env: cleanEnv(home),
          ...(signal ? { signal } : {}),
        });
        const log = programLog(r.stderr);
        const ok = r.status === 0;
        const error = ok
          ? undefined
          : r.signal
            ? `skopeo killed after ${Math.round(timeoutMs / 1000)} s`
            : lastLine(r.stderr);
        return { ok, exitCode: r.status, ...(error ? { error } : {}), log };
      } finally {
        rmSync(dest, { recursive: true, force: true });
      }
    },
  };
}

/** The model of a runtime's pull, over the same stand-ins. */
export function modelDriver(
  runtime: Runtime,
  map: StandInMap,
  reason: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Driver {
  const program = { containerd: "containerd", docker: "dockerd", "cri-o": "containers/image" }[
    runtime
  ];
  return {
    kind: "model",
    program: `${program} (model)`,
    reason,
    async pull(plan, reference) {
      const refHost = reference.split("/")[0] ?? "";
      const hosts: ModelHost[] = plan.hosts.map((h) => {
        const standIn = h.endpoint
          ? standInFor(h.endpoint.host, h.role, map)
          : standInFor(plan.ref.registry, "upstream", map);
        return {
          base: `http://${standIn}${h.requestRoot}`,
          resolve: h.resolve,
          pull: h.pull,
          // containerd marks requests to any host but the registry's own with ?ns=.
          ...(runtime === "containerd" && standIn !== refHost ? { ns: refHost } : {}),
        };
      });
      const outcome = await modelPull({
        hosts,
        style: plan.style,
        repository: plan.ref.repository,
        ...(plan.ref.tag !== undefined ? { tag: plan.ref.tag } : {}),
        ...(plan.ref.digest !== undefined ? { digest: plan.ref.digest } : {}),
        resolveMethod: runtime === "containerd" ? "HEAD" : "GET",
        architecture: hostArchitecture(),
        timeoutMs,
        ...(signal ? { signal } : {}),
      });
      return {
        ok: outcome.ok,
        exitCode: null,
        ...(outcome.error ? { error: outcome.error } : {}),
        log: outcome.log,
      };
    },
  };
}
