/**
 * What pulls: the real program where it is installed (containerd's `ctr
 * content fetch --hosts-dir`, skopeo with `--registries-conf` for CRI-O's
 * containers/image), otherwise the project's pull client with the runtime's
 * model (simulator/client: PullClient and RUNTIMES), always for dockerd.
 * Every driver pulls one image into fresh, empty local storage, so each pull
 * makes every request a cold node would.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ContentStore } from "../simulator/client/content-store.ts";
import { type HostRoute, PullClient } from "../simulator/client/pull-client.ts";
import { RUNTIMES } from "../simulator/client/runtimes.ts";
import { LiveSim } from "../simulator/engine/sim.ts";
import {
  HttpTransport,
  type OutboundRequest,
  type Outcome,
  type Transport,
} from "../simulator/engine/transport.ts";
import { type CommandResult, runCommand } from "../simulator/util/processes.ts";
import type { RequestEvent } from "../vocabulary/events.ts";
import { cleanEnv, type PrivateContainerd } from "./containerd.ts";
import type { ImagePlan } from "./plan.ts";
import { type StandInMap, standInFor } from "./translate.ts";
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

/** How a program's run ended: its exit code, its last line when it failed, what it logged. */
function programOutcome(program: string, r: CommandResult, timeoutMs: number): DriverOutcome {
  const log = programLog(r.stderr);
  if (r.status === 0) return { ok: true, exitCode: 0, log };
  const error = r.signal
    ? `${program} killed after ${Math.round(timeoutMs / 1000)} s`
    : lastLine(r.stderr);
  return { ok: false, exitCode: r.status, ...(error ? { error } : {}), log };
}

/** A real program, run once per pull (the `n`th) with a fresh store; its exit and stderr are the outcome. */
function realDriver(
  program: string,
  version: string,
  timeoutMs: number,
  run: (reference: string, n: number) => Promise<CommandResult>,
): Driver {
  let pulls = 0;
  return {
    kind: "real",
    program,
    version,
    pull: async (_plan, reference) =>
      programOutcome(program, await run(reference, ++pulls), timeoutMs),
  };
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
  return realDriver("ctr", version, timeoutMs, (reference, n) =>
    containerd.ctr(
      `pullstorm-check-${run}-${n}`,
      ["content", "fetch", "--hosts-dir", hostsDir, reference],
      timeoutMs,
      signal,
    ),
  );
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
  return realDriver("skopeo", version, timeoutMs, async (reference, n) => {
    const dest = join(workDir, `copy-${n}`);
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
      return await runCommand("skopeo", args, {
        timeoutMs,
        env: cleanEnv(home),
        ...(signal ? { signal } : {}),
      });
    } finally {
      rmSync(dest, { recursive: true, force: true });
    }
  });
}

/** The program each runtime's model stands for. */
const MODELLED: Record<Runtime, string> = {
  containerd: "containerd",
  dockerd: "dockerd",
  "cri-o": "containers/image",
};

/** The architecture name registries use for this machine. */
export function hostArchitecture(): string {
  return process.arch === "arm64" ? "arm64" : "amd64";
}

const ABORTED: Outcome = { status: 0, error: "error", message: "check-mirror was interrupted" };

/**
 * Real HTTP to the stand-ins, each logical host reached on its stand-in under
 * its configured request root ("/v2/dockerhub" for a namespaced location); an
 * abort ends the request in flight at once.
 */
class StandInTransport implements Transport {
  private readonly hosts = new Map<string, { http: HttpTransport; root: string }>();
  private readonly timeoutMs: number;
  private readonly aborted: Promise<Outcome> | undefined;

  constructor(timeoutMs: number, signal?: AbortSignal) {
    this.timeoutMs = timeoutMs;
    this.aborted = signal
      ? new Promise((resolve) => signal.addEventListener("abort", () => resolve(ABORTED)))
      : undefined;
  }

  /** The logical host for a stand-in and request root, added on first use. */
  host(standIn: string, root: string): string {
    const name = root === "/v2" ? standIn : `${standIn}${root}`;
    if (!this.hosts.has(name)) {
      const http = new HttpTransport(
        { [name]: `http://${standIn}` },
        { timeoutMs: this.timeoutMs },
      );
      this.hosts.set(name, { http, root });
    }
    return name;
  }

  send(req: OutboundRequest, egressIp: string): Promise<Outcome> {
    const host = this.hosts.get(req.host);
    if (!host) return Promise.resolve({ status: 0, error: "refused", message: `no ${req.host}` });
    // The API root moves; the ping (GET /v2/) and the token realm stay where they are.
    const path =
      host.root !== "/v2" && req.path.startsWith("/v2/") && req.path.length > 4
        ? `${host.root}${req.path.slice(3)}`
        : req.path;
    const sent = host.http.send({ ...req, path }, egressIp);
    return this.aborted ? Promise.race([sent, this.aborted]) : sent;
  }
}

/** A failed request in a few words: "HEAD manifest at 127.0.0.1:PORT: 404 MANIFEST_UNKNOWN". */
function failureText(e: RequestEvent): string {
  const why = e.network ? `connection ${e.network}` : `${e.status}${e.code ? ` ${e.code}` : ""}`;
  return `${e.method} ${e.kind} at ${e.host}: ${why}`;
}

function failed(e: RequestEvent): boolean {
  // A 401 is the token challenge, answered by the client itself.
  return e.network !== undefined || (e.status >= 400 && e.status !== 401);
}

/**
 * The model of a runtime's pull, over the same stand-ins: the project's
 * PullClient with the runtime's model (RUNTIMES), every request a real HTTP
 * request. What it logged and why it failed are read from its request events.
 */
export function modelDriver(
  runtime: Runtime,
  map: StandInMap,
  reason: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Driver {
  const transport = new StandInTransport(timeoutMs, signal);
  return {
    kind: "model",
    program: `${MODELLED[runtime]} (model)`,
    reason,
    async pull(plan, reference) {
      // The registry as the runtime sees it: the stand-in of the image's registry.
      const registry = reference.split("/")[0] ?? "";
      const routes: HostRoute[] = [];
      for (const h of plan.hosts) {
        if (!h.pull) continue;
        const standIn = h.endpoint
          ? standInFor(h.endpoint.host, h.role, map)
          : standInFor(plan.ref.registry, "upstream", map);
        // containerd marks requests to any host but the registry's own with ?ns=<registry>.
        routes.push({
          host: transport.host(standIn, h.requestRoot),
          role: standIn === registry ? "upstream" : "mirror",
          resolve: h.resolve,
          ns: registry,
        });
      }
      const events: RequestEvent[] = [];
      const sim = new LiveSim(1, 1);
      const stop = () => sim.stop();
      signal?.addEventListener("abort", stop);
      const client = new PullClient({
        actor: MODELLED[runtime],
        design: "check-mirror",
        runtime: RUNTIMES[runtime],
        hosts: routes,
        egressIp: "127.0.0.1",
        transport,
        sim,
        store: new ContentStore(),
        emit: (e) => {
          if (e.type === "request") events.push(e);
        },
        architecture: hostArchitecture(),
      });
      let error: string | undefined;
      try {
        const { repository, tag, digest } = plan.ref;
        const result = await client.pull({
          repository,
          ...(tag !== undefined ? { tag } : {}),
          ...(digest !== undefined ? { digest } : {}),
        });
        if (!result.ok) {
          const last = events.findLast((e) => e.host === result.host && failed(e));
          error = last ? `${result.reason}: ${failureText(last)}` : "no host to pull from";
        }
      } catch (e) {
        error = (e as Error).message;
      } finally {
        signal?.removeEventListener("abort", stop);
        sim.stop();
      }
      // Like containerd's "trying next host": every failure at a host with another one after it.
      const lastHost = routes.at(-1)?.host;
      const log = collapse(
        events
          .filter((e) => failed(e) && e.host !== lastHost)
          .map((e) => `trying next host: ${failureText(e)}`),
      );
      return { ok: error === undefined, exitCode: null, ...(error ? { error } : {}), log };
    },
  };
}
