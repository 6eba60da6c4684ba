/**
 * `pullstorm check-mirror`: given a node's registry configuration and the
 * runtime the nodes run, pull the named images with that runtime (the real
 * program where it is installed) against loopback stand-ins for every host the
 * configuration names, say which host each request reached, stop the mirror
 * and pull again to show what the fallback does, and flag what to fix.
 *
 * Nothing here ever connects anywhere but 127.0.0.0/8: configured names are
 * mapped onto stand-ins before any program runs, and the loopback copy is
 * re-read and refused if anything in it points elsewhere.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUILTIN_IMAGES, type ImageDraft } from "../fake-registry/catalog/builtin.ts";
import { LINUX_AMD64, LINUX_ARM64 } from "../fake-registry/catalog/spec.ts";
import { createRegistry } from "../fake-registry/index.ts";
import type { Registry } from "../fake-registry/registry/registry.ts";
import { LiveSim } from "../simulator/engine/sim.ts";
import { HttpTransport } from "../simulator/engine/transport.ts";
import { findDistribution, startProcessMirror } from "../simulator/mirror/backends.ts";
import { MirrorModel } from "../simulator/mirror/model.ts";
import { serveMirror } from "../simulator/mirror/serve.ts";
import {
  formatImage,
  type ImageReference,
  parseImageReference,
} from "../vocabulary/oci/reference.ts";
import { analyzeCheck, type ImageRun, type PullRun } from "./analyze.ts";
import { type ContainerdConfig, loadContainerdConfig } from "./config/containerd-config.ts";
import { loadDaemonJson } from "./config/daemon-json.ts";
import { loadHostsDir, namespaceFor } from "./config/hosts-dir.ts";
import { loadRegistriesConf } from "./config/registries-conf.ts";
import { type PrivateContainerd, startPrivateContainerd } from "./containerd.ts";
import { ctrDriver, type Driver, modelDriver, programVersion, skopeoDriver } from "./drivers.ts";
import { parseEndpoint, registryOfHost, roleOfHost } from "./endpoints.ts";
import { emptyConfig, type NodeConfig, planImages } from "./plan.ts";
import {
  type Listener,
  MirrorStandIn,
  type PathRewrite,
  Recorder,
  serveRegistryStandIn,
} from "./stand-ins.ts";
import {
  loopbackViolations,
  type StandInMap,
  type Translation,
  translateHostsDir,
  translateRegistriesConf,
} from "./translate.ts";
import {
  type CheckMirrorReport,
  CONFIG_FLAG,
  type ConfigKind,
  READS,
  REPORT_SCHEMA,
  RUNTIME_ALIASES,
  RUNTIME_NAMES,
  type Runtime,
  type StandInDescription,
} from "./types.ts";

export const DEFAULT_IMAGE = "docker.io/library/nginx:1.25";

/** Thrown for what the user asked: printed without a stack, exit code 2. */
export class CheckUsageError extends Error {
  override name = "CheckUsageError";
}

export interface CheckMirrorOptions {
  runtime: string;
  hostsDir?: string;
  daemonJson?: string;
  registriesConf?: string;
  images?: string[];
  /** The mirrors that really exist (host[:port]); any other mirror host is treated as unreachable. */
  mirrors?: string[];
  /** What the mirror behind the stand-ins serves: everything, or content by digest only. */
  mirrorServes?: "all" | "digests";
  /** Stop the mirror and pull again (default true). */
  fallback?: boolean;
  /** auto: CNCF distribution when installed, else the model. */
  mirrorBackend?: "auto" | "process" | "model";
  /** auto: the real program when installed. model: always the model. */
  driver?: "auto" | "model";
  /** containerd's config.toml, to check that the CRI plugin reads the hosts directory. */
  containerdConfig?: string;
  /** A running private containerd to use instead of starting one. */
  containerd?: PrivateContainerd;
  /** Per pull (default 60 s). */
  pullTimeoutMs?: number;
  /** Aborts the check (Ctrl-C): the running pull is killed and everything stopped. */
  signal?: AbortSignal;
  progress?: (line: string) => void;
}

export interface CheckInput {
  runtime: Runtime;
  config: NodeConfig;
  images: ImageReference[];
  mirrors?: string[];
  containerdConfig?: ContainerdConfig;
}

/** Validates everything the user gave before anything starts; throws CheckUsageError or ConfigError. */
export function prepareCheck(options: CheckMirrorOptions): CheckInput {
  const runtime = (RUNTIME_ALIASES[options.runtime] ?? options.runtime) as Runtime;
  if (!RUNTIME_NAMES.includes(runtime))
    throw new CheckUsageError(
      `--runtime: "${options.runtime}" is not one of ${RUNTIME_NAMES.join(", ")}`,
    );
  const given = (
    [
      ["hosts-dir", options.hostsDir],
      ["daemon-json", options.daemonJson],
      ["registries-conf", options.registriesConf],
    ] as Array<[ConfigKind, string | undefined]>
  ).filter(([, v]) => v !== undefined);
  if (given.length !== 1)
    throw new CheckUsageError(
      `give exactly one node configuration: --hosts-dir DIR, --daemon-json FILE or --registries-conf FILE${given.length > 1 ? ` (got ${given.map(([k]) => CONFIG_FLAG[k]).join(" and ")})` : ""}`,
    );
  const [kind, path] = given[0] as [ConfigKind, string];
  const images: ImageReference[] = [];
  const problems: string[] = [];
  for (const text of options.images?.length ? options.images : [DEFAULT_IMAGE]) {
    const parsed = parseImageReference(text);
    if ("error" in parsed) problems.push(`--image: ${parsed.error}`);
    else if (!images.some((i) => formatImage(i) === formatImage(parsed))) images.push(parsed);
  }
  const mirrors: string[] = [];
  for (const m of options.mirrors ?? []) {
    const parsed = parseEndpoint(m);
    if ("error" in parsed) problems.push(`--mirror: ${parsed.error}`);
    else mirrors.push(parsed.host);
  }
  if (options.containerdConfig !== undefined && runtime !== "containerd")
    problems.push("--containerd-config: only with --runtime containerd");
  if (problems.length > 0) throw new CheckUsageError(problems.join("\n"));
  const config: NodeConfig =
    kind === "hosts-dir"
      ? loadHostsDir(path)
      : kind === "daemon-json"
        ? loadDaemonJson(path)
        : loadRegistriesConf(path);
  const containerdConfig =
    options.containerdConfig !== undefined
      ? loadContainerdConfig(options.containerdConfig)
      : undefined;
  return {
    runtime,
    config,
    images,
    ...(options.mirrors?.length ? { mirrors } : {}),
    ...(containerdConfig ? { containerdConfig } : {}),
  };
}

/** Images the fake registry does not have yet: added with the asked tags (synthetic content). */
function draftsFor(images: ImageReference[]): ImageDraft[] {
  const byName = new Map<string, Set<string>>();
  for (const i of images) {
    const tags = byName.get(i.repository) ?? new Set<string>();
    tags.add(i.tag ?? "latest");
    byName.set(i.repository, tags);
  }
  const drafts: ImageDraft[] = [];
  for (const [name, tags] of byName) {
    const spec = BUILTIN_IMAGES.find((b) => b.name === name);
    const known = spec ? Object.keys(spec.tags) : [];
    if ([...tags].every((t) => known.includes(t))) continue;
    drafts.push({
      name,
      tags: Object.fromEntries(
        [...new Set([...known, ...tags])].map((t) => [t, spec?.tags[t] ?? {}]),
      ),
      platforms: spec?.platforms ?? [LINUX_AMD64, LINUX_ARM64],
      base: spec?.base ?? "debian",
      format: spec?.format ?? "docker",
    });
  }
  return drafts;
}

/**
 * The registry never throttles here (every pull comes from 127.0.0.1 and a
 * long --image list would otherwise run into the anonymous limit); what Docker
 * Hub would count is reported from its policy instead.
 */
const REGISTRY_OPTIONS = {
  seed: 1,
  preset: "unlimited",
  defaults: { layers: 3, layerSize: 48 * 1024 },
};

/** A digest the user gave cannot exist in a synthetic registry: use the fake image's digest for the same tag. */
async function substituteDigests(
  images: ImageReference[],
  registry: Registry,
  notes: string[],
): Promise<ImageReference[]> {
  const out: ImageReference[] = [];
  for (const i of images) {
    if (!i.digest) {
      out.push(i);
      continue;
    }
    const tag = i.tag ?? "latest";
    const build = await registry.catalog.resolveTag(i.repository, tag, 0);
    const format = build?.format ?? "docker";
    const digest = build?.index?.[format].digest ?? build?.platforms[0]?.manifests[format].digest;
    if (!digest) throw new Error(`no fake image for ${i.repository}:${tag}`);
    if (digest !== i.digest)
      notes.push(
        `${formatImage(i)} is pulled by the fake registry's digest of ${i.repository}:${tag} (${digest.slice(0, 19)}...): what matters is that it is a pull by digest`,
      );
    out.push({ ...i, digest });
  }
  return out;
}

/** The simulator's model of distribution 2.8, pulling through from `upstream` over HTTP. */
async function serveModelMirror(upstream: string): Promise<{ url: string; stop(): Promise<void> }> {
  const sim = new LiveSim(1, 1);
  const origin = { host: "registry", egressIp: "127.0.0.1" };
  const transport = new HttpTransport({ [origin.host]: upstream });
  const model = new MirrorModel({
    flavour: "distribution-2.8",
    sim,
    upstream: { ...origin, transport },
  });
  const served = await serveMirror(model, { host: "127.0.0.1", port: 0 });
  return {
    url: served.url,
    stop: async () => {
      sim.stop();
      await served.close();
    },
  };
}

function seconds(start: number): number {
  return (performance.now() - start) / 1000;
}

/** Runs the whole check. Everything started is stopped and every temporary file removed, also on errors. */
export async function runCheck(
  input: CheckInput,
  options: Omit<CheckMirrorOptions, "runtime"> = {},
): Promise<CheckMirrorReport> {
  const progress = options.progress ?? (() => {});
  const timeoutMs = options.pullTimeoutMs ?? 60_000;
  const serves = options.mirrorServes ?? "all";
  const work = mkdtempSync(join(tmpdir(), "pullstorm-check-mirror-"));
  const closers: Array<() => Promise<unknown>> = [];
  try {
    const { runtime, config } = input;
    const readByRuntime = READS[runtime] === config.kind;
    const cri = input.containerdConfig;
    // What the runtime actually reads: its own kind of file, or nothing.
    const effective: NodeConfig =
      readByRuntime && !(cri && !cri.configPath) ? config : emptyConfig(READS[runtime]);
    const notes: string[] = [];

    // The registry: what the nodes would reach directly, and what the mirror pulls through from.
    const registry = createRegistry({ ...REGISTRY_OPTIONS, images: draftsFor(input.images) });
    const images = await substituteDigests(input.images, registry, notes);
    const recorder = new Recorder();
    const mirrorUpstream = await serveRegistryStandIn(registry, recorder, {
      at: "mirror-upstream",
      name: "the mirror's upstream",
      countsPulls: true,
    });
    closers.push(() => mirrorUpstream.close());

    // The mirror: CNCF distribution when installed, else the simulator's model.
    const backendAsked = options.mirrorBackend ?? "auto";
    const distribution = backendAsked === "model" ? undefined : await findDistribution();
    if (backendAsked === "process" && !distribution)
      throw new Error(
        "--mirror-backend process: CNCF distribution is not installed (apt-get install docker-registry)",
      );
    let started: { url: string; stop(): Promise<void> };
    let mirrorInfo: CheckMirrorReport["mirror"];
    if (distribution) {
      progress(`starting ${distribution.binary} ${distribution.version} as the mirror`);
      started = await startProcessMirror({
        upstream: mirrorUpstream.url,
        storageDir: join(work, "mirror"),
      });
      mirrorInfo = {
        backend: "process",
        program: distribution.binary,
        version: distribution.version,
        serves,
      };
    } else {
      started = await serveModelMirror(mirrorUpstream.url);
      mirrorInfo = {
        backend: "model",
        program: "distribution-2.8 (model)",
        reason:
          backendAsked === "model"
            ? "--mirror-backend model"
            : "docker-registry (CNCF distribution) is not installed: apt-get install docker-registry",
        serves,
      };
    }
    const mirrorUrl = started.url;
    // Stopped for the fallback pulls, and again (a no-op then) at the end.
    let stopping: Promise<void> | undefined;
    const stopMirror = () => {
      stopping ??= started.stop();
      return stopping;
    };
    closers.push(stopMirror);

    // Stand-ins for every host the configuration names, per image.
    const plans = planImages(effective, images);
    const upstreams = new Map<string, Listener>();
    const upstreamRewrites = new Map<string, PathRewrite[]>();
    const mirrors = new Map<string, MirrorStandIn>();
    const declared = input.mirrors ? new Set(input.mirrors) : undefined;
    const upstreamFor = async (registryName: string, root = "/v2") => {
      const key = registryOfHost(registryName);
      let l = upstreams.get(key);
      let rewrites = upstreamRewrites.get(key) ?? [];
      if (!l) {
        rewrites = [];
        l = await serveRegistryStandIn(registry, recorder, {
          at: "upstream",
          name: key,
          rewrites,
          // Docker Hub's pull limit means something for Docker Hub only.
          ...(key === "docker.io" ? { countsPulls: true } : {}),
        });
        const listener = l;
        closers.push(() => listener.close());
        upstreams.set(key, l);
        upstreamRewrites.set(key, rewrites);
      }
      if (root !== "/v2" && !rewrites.some((r) => r.from === root))
        rewrites.push({ from: root, to: "/v2" });
      return l;
    };
    const mirrorFor = async (host: string, rewrite: string) => {
      let m = mirrors.get(host);
      if (!m) {
        m = new MirrorStandIn({
          name: host,
          recorder,
          state: declared && !declared.has(host) ? "unknown-host" : "up",
          serves: serves === "digests" ? "digests" : "all",
          backend: mirrorUrl,
        });
        await m.listen();
        const standIn = m;
        closers.push(() => standIn.close());
        mirrors.set(host, m);
      }
      if (rewrite !== "/v2" && !m.rewrites.some((r) => r.from === rewrite))
        m.rewrites.push({ from: rewrite, to: "/v2" });
      return m;
    };
    for (const plan of plans) {
      await upstreamFor(plan.ref.registry);
      for (const h of plan.hosts) {
        if (h.role === "upstream")
          await upstreamFor(h.endpoint ? h.endpoint.host : plan.ref.registry, h.requestRoot);
        else await mirrorFor(h.name, h.requestRoot);
      }
    }
    // A hosts.toml containerd cannot decode is not tried, yet its copy still needs loopback names.
    if (effective.kind === "hosts-dir")
      for (const plan of plans) {
        const ns = namespaceFor(effective, plan.ref.registry);
        for (const e of [
          ...(ns?.hosts.map((h) => h.endpoint) ?? []),
          ...(ns?.server ? [ns.server] : []),
        ]) {
          if (roleOfHost(e.host, plan.ref.registry) === "upstream") await upstreamFor(e.host);
          else await mirrorFor(e.host, "/v2");
        }
      }
    const map: StandInMap = {
      upstream: (r) => {
        const l = upstreams.get(registryOfHost(r));
        if (!l) throw new Error(`no stand-in for the registry ${r}`);
        return l.host;
      },
      mirror: (h) => {
        const m = mirrors.get(h);
        if (!m) throw new Error(`no stand-in for the mirror ${h}`);
        return m.host;
      },
    };

    // The loopback copy of the configuration.
    let translation: Translation;
    if (effective.kind === "hosts-dir")
      translation = translateHostsDir(effective, plans, map, join(work, "config"));
    else if (effective.kind === "registries-conf")
      translation = translateRegistriesConf(effective, plans, map, join(work, "config"));
    else
      translation = {
        files: {},
        pulledAs: Object.fromEntries(
          plans.map((p) => [p.text, formatImage(p.ref, map.upstream(p.ref.registry))]),
        ),
        notes: [
          "dockerd is modelled: its registry-mirrors are tried in order over the stand-ins, Docker Hub last",
        ],
      };
    translation.notes.unshift(...notes);
    const violations = loopbackViolations(translation);
    if (violations.length > 0)
      throw new Error(
        `refusing to run: the loopback copy names non-loopback hosts:\n${violations.join("\n")}`,
      );

    // The runtime: the real program where it can run, else the model.
    const driver = await chooseDriver(
      runtime,
      options,
      translation,
      work,
      map,
      timeoutMs,
      closers,
      progress,
    );
    progress(`pulling with ${driver.program}${driver.version ? ` ${driver.version}` : ""}`);

    const runs: ImageRun[] = [];
    const pullAll = async (phase: "pull" | "fallback") => {
      const results: PullRun[] = [];
      for (const plan of plans) {
        recorder.phase = phase;
        recorder.image = plan.text;
        options.signal?.throwIfAborted();
        const started = performance.now();
        const outcome = await driver.pull(plan, translation.pulledAs[plan.text] as string);
        options.signal?.throwIfAborted();
        results.push({ ...outcome, seconds: seconds(started) });
        progress(
          `${phase === "pull" ? "pulled" : "pulled again, mirror down:"} ${plan.text}: ${outcome.ok ? "ok" : `failed (${outcome.error ?? ""})`}`,
        );
      }
      recorder.phase = "setup";
      recorder.image = "";
      return results;
    };
    const first = await pullAll("pull");
    const usedMirror = plans.map((p) =>
      recorder.records.some(
        (r) =>
          r.phase === "pull" &&
          r.image === p.text &&
          r.at === "mirror" &&
          r.status !== "unreachable" &&
          r.status < 400,
      ),
    );
    let second: PullRun[] | undefined;
    const wantFallback = options.fallback !== false;
    if (wantFallback && usedMirror.some(Boolean)) {
      progress("stopping the mirror");
      await stopMirror();
      for (const m of mirrors.values()) if (m.state === "up") m.state = "stopped";
      second = await pullAll("fallback");
    }
    plans.forEach((plan, i) => {
      const fallback: ImageRun["fallback"] = !wantFallback
        ? { skipped: "--no-fallback" }
        : !usedMirror[i]
          ? { skipped: "no mirror served this image: there is nothing to fall back from" }
          : (second?.[i] as PullRun);
      runs.push({
        plan,
        pulledAs: translation.pulledAs[plan.text] as string,
        pull: first[i] as PullRun,
        fallback,
      });
    });

    const names: Record<string, string> = {};
    for (const [name, l] of upstreams) names[l.host] = name;
    for (const [name, m] of mirrors) names[m.host] = name;
    names[new URL(mirrorUrl).host] = "the mirror";
    names[mirrorUpstream.host] = "the mirror's upstream";

    const analysis = analyzeCheck({
      runtime,
      config,
      readByRuntime,
      runs,
      records: recorder.records,
      driver,
      mirror: {
        backend: mirrorInfo.backend,
        ...(mirrorInfo.reason ? { reason: mirrorInfo.reason } : {}),
        serves,
      },
      ...(input.mirrors ? { declaredMirrors: input.mirrors } : {}),
      ...(cri
        ? {
            containerdConfig: {
              path: cri.path,
              ...(cri.configPath ? { configPath: cri.configPath } : {}),
            },
          }
        : {}),
      names,
    });
    const standIns: StandInDescription[] = [
      ...[...upstreams].map(([name, l]) => ({ name, role: "upstream" as const, url: l.url })),
      ...[...mirrors].map(([name, m]) => ({
        name,
        role: "mirror" as const,
        url: m.url,
        state: m.state === "unknown-host" ? "unknown-host" : "up",
      })),
      { name: "the mirror's upstream", role: "mirror-upstream", url: mirrorUpstream.url },
    ];
    return {
      schema: REPORT_SCHEMA,
      runtime,
      config: { kind: config.kind, path: config.path, readByRuntime },
      driver: {
        kind: driver.kind,
        program: driver.program,
        ...(driver.version ? { version: driver.version } : {}),
        ...(driver.reason ? { reason: driver.reason } : {}),
      },
      mirror: mirrorInfo,
      standIns,
      translation: { files: redactHeaders(translation.files), notes: translation.notes },
      images: analysis.images,
      findings: analysis.findings,
      verdict: analysis.verdict,
      exitCode: analysis.exitCode,
      requests: recorder.records.filter((r) => r.phase !== "setup"),
    };
  } finally {
    for (const close of closers.reverse()) await close().catch(() => {});
    rmSync(work, { recursive: true, force: true });
  }
}

/** Header values (tokens, often) do not belong in a report. */
function redactHeaders(files: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(files).map(([name, text]) => [name, redactHeaderTables(text)]),
  );
}

function redactHeaderTables(text: string): string {
  const lines = text.split("\n");
  let inHeader = false;
  return lines
    .map((line) => {
      const table = /^\s*\[(.*)\]\s*$/.exec(line);
      if (table) {
        inHeader = /(^|\.)header$/.test(table[1] ?? "");
        return line;
      }
      return inHeader && /=/.test(line) ? line.replace(/=.*$/, '= "(redacted)"') : line;
    })
    .join("\n");
}

async function chooseDriver(
  runtime: Runtime,
  options: Omit<CheckMirrorOptions, "runtime">,
  translation: Translation,
  work: string,
  map: StandInMap,
  timeoutMs: number,
  closers: Array<() => Promise<unknown>>,
  progress: (line: string) => void,
): Promise<Driver> {
  if (runtime === "dockerd")
    return modelDriver(
      runtime,
      map,
      "check-mirror does not run dockerd (it needs a whole Docker Engine): registry-mirrors are tried in order for Docker Hub images, any error from a mirror moves the pull to the next one and finally to Docker Hub (moby distribution/pull.go).",
      timeoutMs,
      options.signal,
    );
  if (options.driver === "model")
    return modelDriver(
      runtime,
      map,
      "the model was asked for (driver: model).",
      timeoutMs,
      options.signal,
    );
  if (runtime === "containerd") {
    const ctr = await programVersion("ctr", ["--version"]);
    const daemon = options.containerd ? "given" : await programVersion("containerd", ["--version"]);
    if (!ctr || !daemon)
      return modelDriver(
        runtime,
        map,
        `${[!ctr ? "ctr" : "", !daemon ? "containerd" : ""].filter(Boolean).join(" and ")} not installed (apt-get install containerd).`,
        timeoutMs,
        options.signal,
      );
    let containerd = options.containerd;
    if (!containerd) {
      progress("starting a private containerd");
      try {
        containerd = await startPrivateContainerd(join(work, "containerd"));
      } catch (error) {
        return modelDriver(
          runtime,
          map,
          `containerd could not start here (${(error as Error).message.split("\n")[0]}).`,
          timeoutMs,
        );
      }
      const started = containerd;
      closers.push(() => started.daemon.stop("SIGTERM"));
    }
    return ctrDriver(containerd, translation.configPath as string, ctr, timeoutMs, options.signal);
  }
  const skopeo = await programVersion("skopeo", ["--version"]);
  if (!skopeo)
    return modelDriver(
      runtime,
      map,
      "skopeo is not installed (apt-get install skopeo).",
      timeoutMs,
      options.signal,
    );
  return skopeoDriver(
    translation.configPath as string,
    join(work, "skopeo"),
    skopeo,
    timeoutMs,
    options.signal,
  );
}

/** Parses and runs: the library entry point. */
export async function checkMirror(options: CheckMirrorOptions): Promise<CheckMirrorReport> {
  return runCheck(prepareCheck(options), options);
}
