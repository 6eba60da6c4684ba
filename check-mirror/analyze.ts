/**
 * From what the stand-ins saw to verdicts and findings: per image, which host
 * each request reached while the mirror was up and after it was stopped; then
 * what in the configuration made it so, and the fix.
 */

import { DOCKER_HUB } from "../vocabulary/oci/reference.ts";
import { andList as list } from "../vocabulary/text.ts";
import { namespaceFor } from "./config/hosts-dir.ts";
import type { DriverOutcome } from "./drivers.ts";
import { type Endpoint, registryOfHost } from "./endpoints.ts";
import { configFixFor, hostsTomlFix } from "./fixes.ts";
import type { ImagePlan, NodeConfig } from "./plan.ts";
import type { Phase, RequestRecord } from "./stand-ins.ts";
import {
  type CheckedPull,
  type CheckFinding,
  CONFIG_NAME,
  type FallbackResult,
  type ImageResult,
  READS,
  type Runtime,
  type Tally,
  type Verdict,
} from "./types.ts";

export interface PullRun extends DriverOutcome {
  seconds: number;
}

export interface ImageRun {
  plan: ImagePlan;
  pulledAs: string;
  pull: PullRun;
  fallback: PullRun | { skipped: string };
}

export interface MirrorCheckInput {
  runtime: Runtime;
  /** The configuration as given. */
  config: NodeConfig;
  readByRuntime: boolean;
  runs: ImageRun[];
  records: RequestRecord[];
  driver: { kind: "real" | "model"; program: string; reason?: string };
  mirror: { backend: "process" | "model"; reason?: string; serves: "all" | "digests" };
  /** --mirror: the mirrors that exist; other mirror hosts are unreachable. */
  declaredMirrors?: string[];
  /** --containerd-config: what the CRI plugin reads. */
  containerdConfig?: { path: string; configPath?: string };
  /** Stand-in host:port -> the name in the configuration, to make logs readable. */
  names: Record<string, string>;
}

export function emptyTally(): Tally {
  return {
    requests: 0,
    manifestsByTag: 0,
    manifestsByDigest: 0,
    blobs: 0,
    tokens: 0,
    other: 0,
    failed: 0,
    counted: 0,
    hosts: [],
  };
}

export function tally(records: RequestRecord[]): Tally {
  const t = emptyTally();
  for (const r of records) {
    t.requests++;
    if (r.kind === "manifest") {
      if (r.reference === "tag") t.manifestsByTag++;
      else t.manifestsByDigest++;
    } else if (r.kind === "blob") t.blobs++;
    else if (r.kind === "token") t.tokens++;
    else t.other++;
    // A 401 is the token challenge every first request gets: part of the protocol, not a failure.
    if (r.status === "unreachable" || (r.status >= 400 && r.status !== 401)) t.failed++;
    if (r.counted) t.counted++;
    if (!t.hosts.includes(r.host)) t.hosts.push(r.host);
  }
  return t;
}

function served(r: RequestRecord): boolean {
  return (
    r.status !== "unreachable" && r.status < 400 && (r.kind === "manifest" || r.kind === "blob")
  );
}

function pullResult(
  run: PullRun,
  records: RequestRecord[],
  names: Record<string, string>,
): CheckedPull {
  const at = (where: RequestRecord["at"]) => records.filter((r) => r.at === where);
  const upstream = at("upstream");
  const mirror = at("mirror");
  const mirrorServed = mirror.some(served);
  const verdict: Verdict = !run.ok
    ? "failed"
    : mirrorServed && upstream.length === 0
      ? "mirror"
      : mirrorServed
        ? "both"
        : "upstream";
  return {
    ok: run.ok,
    exitCode: run.exitCode,
    ...(run.error ? { error: readable(run.error, names) } : {}),
    verdict,
    log: run.log.map((l) => readable(l, names)),
    upstream: tally(upstream),
    mirror: tally(mirror),
    mirrorUpstream: tally(at("mirror-upstream")),
    seconds: Math.round(run.seconds * 100) / 100,
  };
}

/** "127.0.0.1:41234" -> "127.0.0.1:41234 (mirror.corp:5000)" in program output. */
export function readable(text: string, names: Record<string, string>): string {
  // Not inside URLs ("http://127.0.0.1:1234/v2/..."): only where a host stands on its own.
  return text.replace(/(?<![/\w])127\.0\.0\.1:(\d+)(?![\d/])/g, (m) =>
    names[m] ? `${m} (${names[m]})` : m,
  );
}

function recordsOf(records: RequestRecord[], phase: Phase, image: string): RequestRecord[] {
  return records.filter((r) => r.phase === phase && r.image === image);
}

export interface MirrorCheck {
  images: ImageResult[];
  findings: CheckFinding[];
  verdict: "mirror" | "upstream";
  exitCode: 0 | 1;
}

export function analyzeCheck(input: MirrorCheckInput): MirrorCheck {
  const images: ImageResult[] = input.runs.map((run) => {
    const pull = pullResult(run.pull, recordsOf(input.records, "pull", run.plan.text), input.names);
    let fallback: FallbackResult;
    if ("skipped" in run.fallback) fallback = { skipped: run.fallback.skipped };
    else {
      const f = pullResult(
        run.fallback,
        recordsOf(input.records, "fallback", run.plan.text),
        input.names,
      );
      fallback = {
        ...f,
        outcome: !f.ok ? "failed" : f.upstream.requests > 0 ? "fell-back-upstream" : "mirror",
        silent: f.ok,
      };
    }
    return {
      image: run.plan.text,
      pulledAs: run.pulledAs,
      configured: {
        source: run.plan.source,
        hosts: run.plan.hosts.map((h) => ({
          host: h.name,
          role: h.role,
          for: [...(h.resolve ? ["resolve"] : []), ...(h.pull ? ["pull"] : [])],
          from: h.from,
        })),
      },
      pull,
      fallback,
    };
  });
  const findings = findingsFor(input, images);
  const allMirror = input.readByRuntime && images.every((i) => i.pull.verdict === "mirror");
  return {
    images,
    findings,
    verdict: allMirror ? "mirror" : "upstream",
    exitCode: allMirror ? 0 : 1,
  };
}

/** The mirrors a configuration names (for fixes written for another runtime). */
export function configuredMirrors(config: NodeConfig): Endpoint[] {
  const seen = new Map<string, Endpoint>();
  const add = (e: Endpoint) => {
    if (registryOfHost(e.host) !== DOCKER_HUB && !seen.has(e.host)) seen.set(e.host, e);
  };
  switch (config.kind) {
    case "daemon-json":
      for (const m of config.mirrors) add(m);
      break;
    case "hosts-dir":
      for (const ns of config.namespaces) {
        for (const h of ns.hosts) add(h.endpoint);
        if (ns.server) add(ns.server);
      }
      break;
    case "registries-conf":
      for (const r of config.registries)
        for (const m of r.mirrors) {
          const slash = m.location.indexOf("/");
          add({
            raw: m.location,
            scheme: m.insecure ? "http" : "https",
            host: (slash < 0 ? m.location : m.location.slice(0, slash)).toLowerCase(),
            path: slash < 0 ? "" : m.location.slice(slash),
          });
        }
      break;
  }
  return [...seen.values()];
}

const RUNTIME_NAME: Record<Runtime, string> = {
  containerd: "containerd",
  dockerd: "dockerd",
  "cri-o": "CRI-O",
};

function countText(t: Tally): string {
  const parts = [
    t.manifestsByTag ? `${t.manifestsByTag} manifest request(s) by tag` : "",
    t.manifestsByDigest ? `${t.manifestsByDigest} by digest` : "",
    t.blobs ? `${t.blobs} blob(s)` : "",
    t.tokens ? `${t.tokens} token request(s)` : "",
  ].filter(Boolean);
  return parts.length ? parts.join(", ") : `${t.requests} request(s)`;
}

function findingsFor(input: MirrorCheckInput, images: ImageResult[]): CheckFinding[] {
  const out: CheckFinding[] = [];
  const { runtime, config } = input;
  const runtimeName = RUNTIME_NAME[runtime];
  const upstreamImages = images.filter((i) => i.pull.verdict === "upstream");
  const mirrors = configuredMirrors(config);

  if (!input.readByRuntime) {
    const reads = READS[runtime];
    out.push({
      id: "config-for-other-runtime",
      severity: "critical",
      title: `${runtimeName} never reads ${config.kind === "daemon-json" ? "daemon.json" : config.kind === "hosts-dir" ? "a containerd hosts directory" : "registries.conf"}`,
      detail: `The nodes run ${runtimeName}, which takes its mirrors from ${CONFIG_NAME[reads]}. ${config.path} is ${CONFIG_NAME[config.kind]}: ${runtimeName} ignores it${mirrors.length ? `, so ${list(mirrors.map((m) => m.host))} ${mirrors.length === 1 ? "is" : "are"} never used` : ""}. Pulled with ${runtimeName}'s own (empty) configuration, ${images.filter((i) => i.pull.verdict === "upstream").length} of ${images.length} image(s) went straight to the registry.`,
      fix: configFixFor(runtime, mirrors),
      images: images.map((i) => i.image),
    });
  }

  const criIgnoresHostsDir =
    input.containerdConfig !== undefined &&
    runtime === "containerd" &&
    !input.containerdConfig.configPath;
  if (criIgnoresHostsDir && input.containerdConfig) {
    out.push({
      id: "config-path-missing",
      severity: "critical",
      title: "containerd's CRI plugin does not read the hosts directory",
      detail: `${input.containerdConfig.path} sets no config_path under [plugins."io.containerd.grpc.v1.cri".registry]: kubelet's pulls go through the CRI plugin, which then ignores every hosts.toml (ctr --hosts-dir would still use them, which hides the problem). Pulled as the CRI plugin does, without the hosts directory.`,
      fix: '[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d"\n# then restart containerd',
      images: images.map((i) => i.image),
    });
  }

  // A hosts.toml containerd 1.6 cannot decode.
  const ignored = new Map<string, string[]>();
  for (const run of input.runs)
    if (run.plan.ignoredFile)
      ignored.set(run.plan.ignoredFile, [
        ...(ignored.get(run.plan.ignoredFile) ?? []),
        run.plan.text,
      ]);
  for (const [file, imgs] of ignored) {
    const seen = images
      .filter((i) => imgs.includes(i.image))
      .some((i) => i.pull.log.some((l) => l.includes("failed to decode hosts.toml")));
    const ns =
      config.kind === "hosts-dir" ? config.namespaces.find((n) => n.file === file) : undefined;
    const server = ns?.server;
    out.push({
      id: "hosts-toml-ignored",
      severity: "critical",
      title: `containerd ignores ${file}: it has no [host] table`,
      detail: `containerd 1.6 reads a hosts.toml only when it has at least one [host."..."] table; without one it fails with "invalid \`host\` tree", logs "failed to decode hosts.toml" at error level and pulls from the registry itself${server ? `, never from server = "${server.raw}"` : ""}.${seen ? " Seen here: the real containerd logged exactly that." : ""}`,
      fix: server
        ? `Add the server as a host table too:\n\nserver = "${server.raw}"\n\n[host."${server.raw}"]\n  capabilities = ["pull", "resolve"]`
        : 'Add a [host."https://mirror.example:5000"] table with capabilities = ["pull", "resolve"].',
      images: imgs,
    });
  }

  // Hosts that are not a mirror anyone runs (a typo).
  if (input.declaredMirrors) {
    const declared = new Set(input.declaredMirrors.map((m) => m.toLowerCase()));
    const unknown = new Map<string, string[]>();
    for (const run of input.runs)
      for (const h of run.plan.hosts)
        if (h.role === "mirror" && !declared.has(h.name))
          unknown.set(h.name, [...new Set([...(unknown.get(h.name) ?? []), run.plan.text])]);
    for (const [host, imgs] of unknown) {
      const attempts = input.records.filter(
        (r) => r.phase === "pull" && r.at === "mirror" && r.host === host,
      ).length;
      out.push({
        id: "unknown-mirror-host",
        severity: "critical",
        title: `${host} is not one of your mirrors`,
        detail: `The configuration names ${host}, but the mirrors you run are ${list([...declared])} (--mirror). Like an unresolvable name, every request to it fails (${attempts} attempt(s) cut here) and the runtime moves on to the next host without telling anyone.`,
        fix: `Correct the host name to ${list([...declared])}.`,
        images: imgs,
      });
    }
  }

  // Tags resolved upstream: capabilities without resolve, or mirrors for digests only.
  for (const image of images) {
    const run = input.runs.find((r) => r.plan.text === image.image) as ImageRun;
    const tagPull = run.plan.ref.digest === undefined;
    if (!tagPull || image.pull.upstream.manifestsByTag === 0) continue;
    const mirrorHosts = run.plan.hosts.filter((h) => h.role === "mirror");
    const pullOnly = mirrorHosts.filter((h) => h.pull && !h.resolve);
    const tagsAsked = (at: RequestRecord["at"]) =>
      recordsOf(input.records, "pull", image.image).filter(
        (r) => r.at === at && r.kind === "manifest" && r.reference === "tag",
      );
    const digestOnlyAnswers = tagsAsked("mirror").filter((r) => r.status === 404);
    if (config.kind === "hosts-dir" && input.readByRuntime && pullOnly.length > 0) {
      const u = image.pull.upstream;
      const byTag = tagsAsked("upstream");
      const heads = byTag.filter((r) => r.method === "HEAD").length;
      const methods = `${heads} HEAD${byTag.length - heads ? ` and ${byTag.length - heads} GET` : ""}`;
      out.push({
        id: "tags-resolved-upstream",
        severity: "critical",
        title: `tags are resolved upstream: ${list(pullOnly.map((h) => h.name))} ${pullOnly.length === 1 ? "has" : "have"} no "resolve" capability`,
        detail: `containerd resolves a tag only on hosts with both "pull" and "resolve"; ${list(pullOnly.map((h) => `${h.from} (capabilities ${JSON.stringify(h.capabilities)})`))} can only serve content by digest. Pulling ${image.image}: the registry got ${countText(u)} (the tag: ${methods}${u.counted ? `; ${u.counted} counted against its pull limit` : "; containerd resolves with HEAD, which Docker Hub does not count, so the quota is spared but the registry is not"}); the mirror served ${countText(image.pull.mirror)}. Every pull of a tag still needs the registry: when it throttles or is down, pulls fail although the mirror has the image.`,
        fix: `Give the mirror the resolve capability:\n\n[host."${pullOnly[0]?.endpoint?.raw ?? pullOnly[0]?.name}"]\n  capabilities = ["pull", "resolve"]\n\nor pin images by digest (image@sha256:...), which never resolves a tag.`,
        images: [image.image],
      });
    } else if (config.kind === "registries-conf" && input.readByRuntime) {
      const skipped = mirrorHosts.filter((h) => !h.pull);
      if (skipped.length > 0)
        out.push({
          id: "tags-resolved-upstream",
          severity: "critical",
          title: `pulls by tag skip the mirror: ${list(skipped.map((h) => h.name))} ${skipped.length === 1 ? "is" : "are"} for digests only`,
          detail: `${list(skipped.map((h) => h.from))}: with mirror-by-digest-only = true or pull-from-mirror = "digest-only", containers/image uses the mirror only for references by digest. ${image.image} is a tag: the whole pull went to the registry (${countText(image.pull.upstream)}).`,
          fix: `Use the mirror for tags too: remove mirror-by-digest-only and set pull-from-mirror = "all" (the default) on the [[registry.mirror]], or pin images by digest.`,
          images: [image.image],
        });
    }
    if (digestOnlyAnswers.length > 0) {
      out.push({
        id: "mirror-digest-only",
        severity: "critical",
        title: "the mirror only serves by digest: tags are answered 404 and resolved upstream",
        detail: `${list([...new Set(digestOnlyAnswers.map((r) => r.host))])} answered ${digestOnlyAnswers.length} manifest request(s) by tag with 404; ${runtimeName} then asked the registry (${countText(image.pull.upstream)}). A mirror that only serves content by digest (Spegel, a P2P cache, a digest-keyed CDN) protects blobs, not tags.`,
        fix: `Pin images by digest (image@sha256:...), or let the mirror resolve tags; if it never will, say so in the configuration (capabilities = ["pull"]) so no request is wasted on it.`,
        images: [image.image],
      });
    }
  }

  // Mirror never reached, with the likeliest cause from the configuration.
  if (input.readByRuntime && !criIgnoresHostsDir)
    for (const image of upstreamImages) {
      const run = input.runs.find((r) => r.plan.text === image.image) as ImageRun;
      if (run.plan.ignoredFile) continue;
      const mirrorHosts = run.plan.hosts.filter((h) => h.role === "mirror");
      if (mirrorHosts.length > 0 && mirrorHosts.every((h) => !h.pull)) continue; // digest-only, reported above
      if (
        input.declaredMirrors &&
        mirrorHosts.length > 0 &&
        mirrorHosts.every(
          (h) => !input.declaredMirrors?.map((m) => m.toLowerCase()).includes(h.name),
        )
      )
        continue; // unknown hosts, reported above
      const cause = neverReachedCause(input, run.plan);
      out.push({
        id: "mirror-never-reached",
        severity: "critical",
        title: `no request for ${image.image} reached a mirror`,
        detail: `${cause.detail} The registry got ${countText(image.pull.upstream)}${image.pull.upstream.counted ? `, ${image.pull.upstream.counted} counted against its pull limit` : ""}.`,
        fix: cause.fix,
        images: [image.image],
      });
    }

  for (const image of images) {
    if (image.pull.verdict === "failed")
      out.push({
        id: "pull-failed",
        severity: "critical",
        title: `${image.image} could not be pulled with the mirror up`,
        detail: `${runtimeName}: ${image.pull.error ?? "failed"}.`,
        images: [image.image],
      });
  }

  // What happens when the mirror is down.
  // For fixes: a mirror you said you run, else the first one the configuration names.
  const declaredFirst = input.declaredMirrors?.[0];
  const mirrorUrl = declaredFirst
    ? `https://${declaredFirst}`
    : mirrors[0]
      ? `${mirrors[0].scheme}://${mirrors[0].host}${mirrors[0].path}`
      : "https://mirror.example:5000";
  const fellBack = images.filter(
    (i) => !("skipped" in i.fallback) && i.fallback.outcome === "fell-back-upstream",
  );
  if (fellBack.length > 0) {
    const noServer =
      config.kind === "hosts-dir" &&
      input.runs.some((r) => r.plan.hosts.some((h) => h.from.startsWith("default (no server")));
    const traces = [
      ...new Set(fellBack.flatMap((i) => ("skipped" in i.fallback ? [] : i.fallback.log))),
    ].slice(0, 2);
    const first = fellBack[0] as ImageResult;
    const f = first.fallback as CheckedPull;
    out.push({
      id: "silent-fallback",
      severity: "warning",
      title: `with the mirror down, ${runtimeName} pulls from the registry without an error`,
      detail: `The mirror was stopped and ${list(fellBack.map((i) => i.image))} pulled again: ${f.ok ? "the pull succeeded" : "the pull failed"}, from the registry (${countText(f.upstream)}${f.upstream.counted ? `, ${f.upstream.counted} counted against its pull limit` : ""}). ${noServer ? "The hosts.toml has no server: containerd still appends the registry itself as the last host, so leaving server out does not stop the fallback. " : ""}${traces.length ? `The only trace: ${traces.map((t) => `"${t}"`).join("; ")}.` : "Nothing was logged."} From every node at once, an outage of the mirror becomes a burst on the registry's pull limit.`,
      fix:
        runtime === "containerd"
          ? `If pulls must never reach the registry (quota, egress policy), make the mirror the server so a mirror outage fails pulls instead:\n\nserver = "${mirrorUrl}"\n\n[host."${mirrorUrl}"]\n  capabilities = ["pull", "resolve"]\n\nOtherwise keep the fallback, authenticate the nodes to the registry, and alert on the mirror's health: kubelet shows nothing.`
          : runtime === "cri-o"
            ? `To forbid the fallback, make the mirror the location of the [[registry]] (location = "${mirrorUrl.replace(/^https?:\/\//, "")}") instead of a [[registry.mirror]]; otherwise alert on the mirror's health and authenticate the nodes to the registry.`
            : "dockerd always falls back to Docker Hub after its registry-mirrors; nothing in daemon.json stops it. Alert on the mirror's health, and authenticate the nodes to Docker Hub.",
      images: fellBack.map((i) => i.image),
    });
  }
  const closed = images.filter(
    (i) => !("skipped" in i.fallback) && i.fallback.outcome === "failed",
  );
  if (closed.length > 0)
    out.push({
      id: "fails-closed",
      severity: "info",
      title: "with the mirror down, pulls fail: the configuration leaves no way around the mirror",
      detail: `The mirror was stopped and ${list(closed.map((i) => i.image))} pulled again: the pull failed (${(closed[0]?.fallback as CheckedPull | undefined)?.error ?? "error"}). Intended when the registry must not be reached; then the mirror needs to be highly available.`,
      images: closed.map((i) => i.image),
    });

  if (config.kind === "hosts-dir" && input.readByRuntime) {
    const unknownKeys = config.namespaces.flatMap((n) =>
      n.unknownKeys.map((k) => `${n.file}: ${k}`),
    );
    if (unknownKeys.length > 0)
      out.push({
        id: "unknown-keys",
        severity: "warning",
        title: "containerd ignores keys it does not know",
        detail: `${list(unknownKeys)}: containerd skips them without a word.${unknownKeys.some((k) => /endpoint|mirrors/.test(k)) ? ' "endpoint" and "mirrors" belong to the old [plugins."io.containerd.grpc.v1.cri".registry.mirrors] syntax in config.toml, not to hosts.toml.' : ""}`,
        fix: 'hosts.toml knows server, capabilities, ca, client, skip_verify, header, override_path and [host."..."] tables.',
        images: [],
      });
  }
  if (config.kind === "registries-conf" && input.readByRuntime && config.unknownKeys.length > 0)
    out.push({
      id: "unknown-keys",
      severity: "warning",
      title: "containers/image ignores keys it does not know",
      detail: `${config.path}: ${list(config.unknownKeys)}.`,
      images: [],
    });

  if (runtime === "containerd" && config.kind === "hosts-dir" && !input.containerdConfig)
    out.push({
      id: "config-path-unchecked",
      severity: "info",
      title: "check that containerd's CRI plugin reads this directory",
      detail: `kubelet pulls through containerd's CRI plugin, which reads hosts.toml files only from config_path in /etc/containerd/config.toml; ctr --hosts-dir (used here) reads them regardless. Pass --containerd-config to check it.`,
      fix: '[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d"',
      images: [],
    });
  if (input.driver.kind === "model")
    out.push({
      id: "model-verdict",
      severity: "info",
      title: `verdicts come from a model of ${runtimeName}, not the real program`,
      detail:
        `${input.driver.reason ?? ""} The model speaks real HTTP to the same stand-ins; what it models is in docs/check-mirror.md.`.trim(),
      images: [],
    });
  if (input.mirror.backend === "model")
    out.push({
      id: "mirror-model",
      severity: "info",
      title: "the mirror is the simulator's model of CNCF distribution, not the real program",
      detail: input.mirror.reason ?? "",
      images: [],
    });
  return out;
}

function neverReachedCause(
  input: MirrorCheckInput,
  plan: ImagePlan,
): { detail: string; fix?: string } {
  const { config } = input;
  const registry = plan.ref.registry;
  const mirrors = configuredMirrors(config);
  if (config.kind === "hosts-dir") {
    if (!plan.source) {
      const dirs = config.namespaces.map((n) => n.dir);
      const suspects = dirs.filter(
        (d) =>
          registryOfHost(d.replace(/_(\d+)_$/, ":$1")) === registryOfHost(registry) ||
          d.includes(registry.split(".")[0] ?? registry),
      );
      const rootToml = config.rootFiles.includes("hosts.toml");
      const wrong = suspects[0];
      return {
        detail: `containerd looks for ${config.path}/${registry}/hosts.toml (named after the registry in the image reference${registry === DOCKER_HUB ? ", docker.io, not the endpoint registry-1.docker.io" : ""}), then ${config.path}/_default/; neither exists${dirs.length ? ` (the directory has ${list(dirs.map((d) => `${d}/`))})` : ""}${rootToml ? `, and ${config.path}/hosts.toml directly in the directory is never read` : ""}. ${registry} has no mirror.`,
        fix: wrong
          ? `mv ${config.path}/${wrong} ${config.path}/${registry}`
          : rootToml
            ? `mkdir ${config.path}/${registry} && mv ${config.path}/hosts.toml ${config.path}/${registry}/`
            : hostsTomlFix(mirrors, registry),
      };
    }
    const ns = namespaceFor(config, registry);
    const misnamed =
      ns && !ns.file ? ns.otherFiles.filter((f) => /\.(toml|ya?ml|json)$/i.test(f)) : [];
    if (ns && misnamed.length > 0)
      return {
        detail: `${config.path}/${ns.dir}/ has ${list(misnamed)} but no hosts.toml: containerd reads only a file named exactly hosts.toml (without one it looks for certificates and uses the registry itself).`,
        fix: `mv ${config.path}/${ns.dir}/${misnamed[0]} ${config.path}/${ns.dir}/hosts.toml`,
      };
    if (plan.hosts.every((h) => h.role === "upstream"))
      return {
        detail: `${plan.source} names no mirror for ${registry}: every host in it is the registry itself.`,
        fix: hostsTomlFix(mirrors, registry),
      };
    return {
      detail: `${plan.source} names ${list(plan.hosts.filter((h) => h.role === "mirror").map((h) => h.name))}, yet no request reached ${plan.hosts.filter((h) => h.role === "mirror").length === 1 ? "it" : "them"}.`,
    };
  }
  if (config.kind === "registries-conf") {
    if (!plan.source) {
      const prefixes = config.registries.map((r) => `"${r.prefix}"`);
      return {
        detail: `containers/image matches [[registry]] prefixes against the image name as written (${registry}/${plan.ref.repository}); no prefix matches${prefixes.length ? ` (prefixes: ${list(prefixes)})` : ""}.${config.v1 ? " The file is in the v1 format, which cannot express mirrors." : ""}`,
        fix: configFixFor("cri-o", mirrors, registry),
      };
    }
    return {
      detail: `${plan.source} applies${plan.hosts.some((h) => h.role === "mirror") ? "" : " but names no [[registry.mirror]]"}.`,
      ...(plan.hosts.some((h) => h.role === "mirror")
        ? {}
        : { fix: configFixFor("cri-o", mirrors, registry) }),
    };
  }
  if (registry !== DOCKER_HUB)
    return {
      detail: `registry-mirrors in daemon.json apply to Docker Hub images only; ${registry} is always pulled from ${registry}.`,
      fix: "dockerd has no per-registry mirrors: pull through the mirror's own name (mirror.example:5000/...), or run containerd with certs.d/<registry>/hosts.toml.",
    };
  return {
    detail:
      config.mirrors.length === 0
        ? `${config.path} has no registry-mirrors.`
        : `${config.path} names ${list(config.mirrors.map((m) => m.host))}, yet no request reached ${config.mirrors.length === 1 ? "it" : "them"}.`,
    ...(config.mirrors.length === 0 ? { fix: configFixFor("dockerd", mirrors) } : {}),
  };
}
