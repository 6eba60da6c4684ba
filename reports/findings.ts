/**
 * Findings as causal chains: what the event stream shows happened, layer by
 * layer (the mirror's upstream account ran out -> nodes fell back to the
 * registry -> the NAT addresses ran out -> ImagePullBackOff waves), each with a
 * stable code, its evidence (numbers and the events they come from), what it
 * did, and a fix the design does not already apply. Codes: docs/reports.md.
 */
import { PRESETS } from "../fake-registry/policy/presets.ts";
import type { Design, Scenario } from "../simulator/scenario/schema.ts";
import { parseReference } from "../vocabulary/oci/reference.ts";
import type {
  DesignAnalysis,
  EventRef,
  Finding,
  FindingChain,
  FindingCode,
  FixCode,
  HoldingRank,
} from "./analysis-types.ts";
import {
  type ClientGroup,
  type DesignFacts,
  mirrorRuntimesOf,
  type RefusalFact,
  runtimeOfGroup,
} from "./facts.ts";
import { formatSeconds } from "./time.ts";

export interface FindingInput {
  scenario: Scenario;
  design: Design;
  analysis: DesignAnalysis;
  facts: DesignFacts;
  preset: string;
  analyses: DesignAnalysis[];
  holding: HoldingRank[];
  cheapest: string | null;
}

const GROUP_WORDS: Record<ClientGroup, [string, string]> = {
  nodes: ["node", "nodes"],
  ci: ["CI job", "CI jobs"],
  desktops: ["desktop", "desktops"],
};

function count(n: number, group: ClientGroup): string {
  const [one, many] = GROUP_WORDS[group];
  return `${n} ${n === 1 ? one : many}`;
}

function list(items: string[], max = 4): string {
  if (items.length <= max) return items.join(", ");
  return `${items.slice(0, max).join(", ")} and ${items.length - max} more`;
}

const at = (t: number) => formatSeconds(t);

/** Where and how each runtime is told about a mirror. */
const MIRROR_CONFIG: Record<string, string> = {
  containerd: "certs.d/docker.io/hosts.toml",
  dockerd:
    'registry-mirrors in /etc/docker/daemon.json (or the runner\'s dockerd "--registry-mirror")',
  "cri-o": "a [[registry.mirror]] in registries.conf",
};

/** The knobs a design already turns: a fix never asks for one of these. */
export function appliedFixes(design: Design): Set<FixCode> {
  const applied = new Set<FixCode>();
  if (design.auth !== "anonymous") applied.add("authenticate");
  if (design.auth === "account-per-actor") applied.add("account-per-actor");
  if (design.mirror?.enabled) applied.add("add-mirror");
  if (design.mirror?.upstreamAuth) applied.add("mirror-upstream-auth");
  if (design.egressIps > 1) applied.add("split-egress");
  if (design.prePull) applied.add("pre-pull");
  if (design.pin === "digest") applied.add("pin-digest");
  if (design.rollout.waveInterval > 0 || design.rollout.maxSurge < 1_000_000)
    applied.add("pace-rollout");
  if (design.ciConcurrency !== undefined) applied.add("cap-ci-concurrency");
  if (!design.mirror?.enabled) applied.add("warm-mirror");
  return applied;
}

function fixText(code: FixCode, input: FindingInput, detail = ""): string {
  const { design } = input;
  switch (code) {
    case "authenticate":
      return "authenticate pulls (an account per node and CI job, via imagePullSecrets or docker login): each is then counted on its own quota instead of the shared address";
    case "account-per-actor":
      return "give every node and CI job its own account instead of one shared account";
    case "add-mirror":
      return "put an authenticated pull-through mirror in front of the registry: a cold node's pull is then local, and the upstream is charged once per image";
    case "mirror-upstream-auth":
      return "log the mirror in upstream with an account of its own: anonymous, it spends its address's quota";
    case "mirror-upstream-capacity":
      return `give the mirror's upstream account the capacity of a cold fleet (a paid plan, or several accounts across mirror replicas), or warm the mirror's cache before the rollout so cold nodes do not all miss at once${detail}`;
    case "configure-mirror":
      return `configure the mirror on ${detail}; check it with pullstorm check-mirror`;
    case "split-egress":
      return "spread egress over more addresses: each anonymous address has its own quota";
    case "pre-pull":
      return "pre-pull the images before the rollout (a pre-pull DaemonSet, paced), so restarts find them on the node";
    case "pin-digest":
      return "pin images by digest with imagePullPolicy IfNotPresent: a node that has the image never asks again";
    case "pace-rollout":
      return "pace the rollout (maxSurge, waves) so fewer cold nodes pull at once";
    case "cap-ci-concurrency":
      return "cap CI concurrency so fewer jobs pull at once";
    case "cache-tokens":
      return "cache tokens for their lifetime, and let a mirror hold one token instead of every node asking";
    case "fix-credentials":
      return "fix the credentials and stop retrying logins that fail: the lockout counts failed logins";
    case "slow-down":
      return "look at the RateLimit headers and the request rate before chasing credentials; slow pulls down";
    case "warm-mirror":
      return "warm the mirror's cache for critical images before the rollout: it serves cached tags while the upstream is down";
    case "raise-qps":
      return "raise kubelet's registryPullQPS and registryBurst, or pace the rollout";
    case "stop-retry-storm":
      return "cut the storm at its source (fewer cold pulls at once), not with more retries: pods that failed together retry together";
    case "roll-out-new-reference":
      return "roll out a new reference (the new digest, or a new tag) instead of restarting on a moved tag; or use imagePullPolicy Always for tags that move";
    case "keep-headroom":
      return `keep headroom: alert when a quota's remaining falls below ${detail || "20 %"}, and re-run this scenario at the load you expect next`;
    case "adopt-design":
      return `adopt ${detail}${design.description ? `: ${design.description}` : ""}`;
    case "alert-on-stale":
      return "alert on the mirror's stale answers, and keep its cache warm for critical images";
  }
}

/** The first candidate the design does not already apply; the last resort is always applicable. */
function pickFix(
  input: FindingInput,
  candidates: FixCode[],
  last: FixCode,
  detail = "",
): { code: FixCode; text: string } {
  const applied = appliedFixes(input.design);
  const code = candidates.find((c) => !applied.has(c)) ?? last;
  return { code, text: fixText(code, input, detail) };
}

/** What the registry's pull limit counts, in its own terms. */
function unitOf(scenario: Scenario, preset: string): string {
  const rules = (scenario.registry.policy?.rules ?? PRESETS[preset]?.rules ?? []) as Array<{
    layer?: string;
    counts?: Array<{ as?: string }>;
  }>;
  const rule = rules.find((r) => r.layer === "registry");
  return rule?.counts?.some((c) => c.as === "docker-pull") ? "pulls" : "requests";
}

function refs(...r: Array<EventRef | null | undefined>): EventRef[] {
  return r.filter((x): x is EventRef => Boolean(x));
}

/** Diagnosis -> fix for one design, from its facts and analysis. */
export function findingsFor(input: FindingInput): Finding[] {
  const { scenario, design, analysis: a, facts, preset } = input;
  const out: Finding[] = [];
  const name = design.name;
  const broke = a.summary.verdict === "breaks";
  const unit = unitOf(scenario, preset);
  const add = (f: Omit<Finding, "id" | "design" | "causedBy"> & { causedBy?: string[] }) => {
    let id = `${name}/${f.code}`;
    for (let i = 2; out.some((o) => o.id === id); i++) id = `${name}/${f.code}/${i}`;
    const finding: Finding = { id, design: name, causedBy: [], ...f };
    out.push(finding);
    return finding;
  };
  const series = (identity: string) => a.headroom.find((h) => h.identity === identity);
  const limitText = (identity: string) => {
    const h = series(identity);
    return h ? `${h.limit} ${unit} per ${formatSeconds(h.windowSeconds)}` : "its quota";
  };
  const units = a.summary.units;
  const totalUnits = units.pods + units.jobs + units.desktops;
  const damage = () =>
    `${a.summary.pulls.failed} pulls failed${units.failed ? `, ${units.failed} of ${totalUnits} pods/jobs never started` : ""}${a.blastRadius.peakInBackoff ? `, up to ${a.blastRadius.peakInBackoff} pods in ImagePullBackOff at once` : ""}`;

  const byLayer = (layer: RefusalFact["layer"], who: "mirror" | "clients") =>
    facts.refusals.filter((r) => r.layer === layer && (who === "mirror") === (r.who === "mirror"));

  // 1. The mirror's upstream side said no: the root of a mirror design's chain.
  const mirrorRoots: Finding[] = [];
  const mirrorQuota = byLayer("registry-quota", "mirror");
  if (mirrorQuota.length > 0) {
    const r = mirrorQuota[0] as RefusalFact;
    const h = series(r.identity);
    const who = design.mirror?.upstreamAuth ? `account ${r.identity}` : `address ${r.identity}`;
    const errors = facts.mirrorErrors;
    mirrorRoots.push(
      add({
        code: "mirror-upstream-quota-exhausted",
        severity: broke ? "critical" : "warning",
        title: `mirror ${who} exhausted`,
        cause: `The mirror's upstream ${who} ran out of its quota (${limitText(r.identity)})${h?.exhaustedAt != null ? ` ${at(h.exhaustedAt)} in` : ""}: ${a.mirror?.misses != null ? `${a.mirror.misses} cold misses` : `${a.summary.upstream.manifestGet} manifest GETs`} went upstream, ${h ? `${h.limit - h.minRemaining} ${unit} charged` : "charged one by one"}.`,
        evidence: [
          {
            text: `${r.identity}: 0 of ${h?.limit ?? "?"} left at ${h?.exhaustedAt != null ? at(h.exhaustedAt) : "?"}, first 429 at ${h?.firstRefusedAt != null ? at(h.firstRefusedAt) : at(r.first.t)}, ${r.count} refused upstream requests`,
            events: refs(
              facts.exhausted.get(r.identity),
              facts.firstRefused.get(r.identity) ?? r.first,
            ),
          },
          ...(errors.count > 0
            ? [
                {
                  text: `the mirror answered ${errors.count} client requests with an error (upstream answered ${[...errors.byUpstreamStatus].map(([s, n]) => `${s} x${n}`).join(", ")})`,
                  events: refs(errors.first),
                },
              ]
            : []),
        ],
        consequence:
          errors.count > 0
            ? `the mirror failed ${errors.count} client requests; clients configured for it went to the registry themselves`
            : "the mirror could not fetch what it did not have",
        fix: pickFix(
          input,
          ["mirror-upstream-auth", "mirror-upstream-capacity"],
          "mirror-upstream-capacity",
        ),
      }),
    );
  }
  for (const layer of ["abuse-limit", "edge", "token-service", "login-lockout"] as const) {
    const rs = byLayer(layer, "mirror");
    if (rs.length === 0) continue;
    const r = rs[0] as RefusalFact;
    const n = rs.reduce((s, x) => s + x.count, 0);
    const what =
      layer === "abuse-limit"
        ? "tripped the registry's per-address abuse limit"
        : layer === "edge"
          ? "was refused by the registry's edge (CDN) limit"
          : layer === "token-service"
            ? "was throttled by the token service"
            : "was locked out by the token service (failed logins)";
    mirrorRoots.push(
      add({
        code:
          layer === "token-service"
            ? "token-service-throttled"
            : layer === "login-lockout"
              ? "login-lockout"
              : "abuse-limit",
        severity: broke ? "critical" : "warning",
        title:
          layer === "abuse-limit"
            ? "the mirror's address tripped the abuse limit"
            : layer === "edge"
              ? "the mirror was refused at the edge"
              : layer === "token-service"
                ? "the mirror's token requests throttled"
                : "the mirror's login locked out",
        cause: `The mirror's upstream side (${r.identity}) ${what} ${at(r.first.t)} in: ${n} of its upstream requests were refused (a token and a request per client miss, all from one address).`,
        evidence: [
          {
            text: `first refusal at ${at(r.first.t)}, last at ${at(r.lastT)}, ${n} refused`,
            events: refs(r.first),
          },
          ...(facts.mirrorErrors.count > 0
            ? [
                {
                  text: `the mirror answered ${facts.mirrorErrors.count} client requests with an error`,
                  events: refs(facts.mirrorErrors.first),
                },
              ]
            : []),
        ],
        consequence: "the mirror could not fetch what it did not have and failed its clients",
        fix:
          layer === "login-lockout"
            ? pickFix(input, ["fix-credentials"], "fix-credentials")
            : pickFix(
                input,
                ["mirror-upstream-capacity", "pace-rollout"],
                "mirror-upstream-capacity",
              ),
      }),
    );
  }

  // 2. Clients configured for the mirror went around it.
  const fallbacks: Finding[] = [];
  for (const group of ["nodes", "ci", "desktops"] as const) {
    const f = facts.fallback[group];
    if (f.requests === 0) continue;
    const seen = facts.groups[group].actors.size;
    const why = [...f.why].sort((x, y) => y[1] - x[1]);
    fallbacks.push(
      add({
        code: "mirror-fallback",
        severity: broke ? "critical" : "warning",
        title: `${GROUP_WORDS[group][1]} fell back to the registry`,
        cause: `${count(f.actors.size, group)} of ${seen} went around the mirror to the registry after it failed them (${list(why.map(([w, n]) => `${w} x${n}`))})${mirrorRoots.length ? `, because ${mirrorRoots.map((r) => r.title).join(" and ")}` : ""}.`,
        evidence: [
          {
            text: `${f.requests} requests from ${runtimeOfGroup(scenario, group)} ${GROUP_WORDS[group][1]} reached the registry directly, ${f.pulls} ${unit} charged to ${list([...f.identities])}; first at ${at(f.first?.t ?? 0)}`,
            events: refs(f.first),
          },
        ],
        consequence: `those pulls were charged to ${list([...f.identities])} (${design.auth === "anonymous" ? "anonymous, the egress addresses' quota" : "the clients' own accounts"}), not to the mirror's account`,
        fix: pickFix(
          input,
          mirrorRoots.length ? ["mirror-upstream-capacity"] : ["warm-mirror", "pace-rollout"],
          "mirror-upstream-capacity",
        ),
        causedBy: mirrorRoots.map((r) => r.id),
      }),
    );
  }

  // 3. Client groups never configured for the mirror.
  const bypasses: Finding[] = [];
  if (design.mirror?.enabled) {
    const runtimes = mirrorRuntimesOf(scenario, design);
    const reachedMirror = Object.values(facts.mirrorRequests).reduce((s, n) => s + n, 0);
    for (const group of ["nodes", "ci", "desktops"] as const) {
      const b = facts.bypass[group];
      if (b.requests === 0) continue;
      const runtime = runtimeOfGroup(scenario, group);
      const refused = facts.refusals.some((r) => r.who === group);
      bypasses.push(
        add({
          code: "mirror-bypassed",
          severity: refused ? "critical" : "warning",
          title: `${GROUP_WORDS[group][1]} (${runtime}) bypassed the mirror`,
          cause: `${count(b.actors.size, group)} (${runtime}) pulled straight from the registry: the mirror is configured for ${runtimes.join(" and ")} only, and ${GROUP_WORDS[group][1]} run ${runtime}${reachedMirror === 0 ? "; no pull ever reached the mirror" : ""}.`,
          evidence: [
            {
              text: `${b.requests} requests, ${b.pulls} ${unit} charged to ${list([...b.identities])}; first at ${at(b.first?.t ?? 0)}`,
              events: refs(b.first),
            },
          ],
          consequence: `their pulls spend ${design.auth === "anonymous" ? "the egress addresses' anonymous quota" : "their accounts' quota"}${refused ? ", and they were refused too" : ""}`,
          fix: {
            code: "configure-mirror",
            text: fixText(
              "configure-mirror",
              input,
              `${runtime} too (${MIRROR_CONFIG[runtime] ?? runtime})`,
            ),
          },
        }),
      );
    }
  }

  // 4. The clients' own quotas ran out (per identity, at the registry's pull limit).
  const clientQuota = byLayer("registry-quota", "clients");
  let quotaFinding: Finding | undefined;
  if (clientQuota.length > 0) {
    const identities = [...new Set(clientQuota.map((r) => r.identity))];
    const ordered = identities
      .map((id) => ({ id, h: series(id), first: clientQuota.find((r) => r.identity === id) }))
      .sort(
        (x, y) =>
          (x.h?.firstRefusedAt ?? x.first?.first.t ?? 0) -
          (y.h?.firstRefusedAt ?? y.first?.first.t ?? 0),
      );
    const firstId = ordered[0]?.id as string;
    const h0 = series(firstId);
    const groups = [...new Set(clientQuota.map((r) => r.who as ClientGroup))];
    const refusedN = clientQuota.reduce((s, r) => s + r.count, 0);
    const kind = design.auth === "anonymous" ? "anonymous" : design.plan;
    const addresses =
      design.auth === "anonymous"
        ? `${identities.length} of ${design.egressIps} egress address${design.egressIps === 1 ? "" : "es"} (${list(identities)})`
        : `${identities.length} account${identities.length === 1 ? "" : "s"} (${list(identities)})`;
    quotaFinding = add({
      code: "quota-exhausted",
      severity: broke ? "critical" : "warning",
      title: `${design.auth === "anonymous" ? "NAT" : "account"} ${list(identities, 2)} exhausted`,
      cause: `The ${kind} quota of ${limitText(firstId)} ran out on ${addresses}: ${h0?.exhaustedAt != null ? `0 left at ${at(h0.exhaustedAt)}, ` : ""}first 429 at ${at(h0?.firstRefusedAt ?? ordered[0]?.first?.first.t ?? 0)} (${firstId}).`,
      evidence: [
        ...ordered.slice(0, 3).map(({ id, h, first }) => ({
          text: `${id}: ${h ? `${h.limit} ${unit} per ${formatSeconds(h.windowSeconds)}, 0 left at ${h.exhaustedAt != null ? at(h.exhaustedAt) : "?"}, first 429 at ${h.firstRefusedAt != null ? at(h.firstRefusedAt) : "?"}, ${h.refused} 429s` : `${first?.count ?? 0} 429s from ${at(first?.first.t ?? 0)}`}`,
          events: refs(facts.exhausted.get(id), facts.firstRefused.get(id) ?? first?.first),
        })),
        {
          text: `refused requests by who sent them: ${groups.map((g) => `${GROUP_WORDS[g][1]} ${clientQuota.filter((r) => r.who === g).reduce((s, r) => s + r.count, 0)}`).join(", ")} (${refusedN} in all)`,
          events: refs(...groups.map((g) => clientQuota.find((r) => r.who === g)?.first)),
        },
      ],
      consequence: `${damage()}`,
      fix: pickFix(
        input,
        design.auth === "shared-account"
          ? ["account-per-actor", "add-mirror", "pin-digest"]
          : ["add-mirror", "authenticate", "split-egress", "pin-digest", "pace-rollout"],
        "mirror-upstream-capacity",
      ),
      causedBy: [...fallbacks, ...bypasses.filter((b) => b.severity === "critical")].map(
        (f) => f.id,
      ),
    });
  }

  // 5. Other client-side layers.
  const layerFinding = (
    layer: RefusalFact["layer"],
    code: FindingCode,
    title: string,
    what: string,
    fix: FixCode[],
    last: FixCode,
  ) => {
    const rs = byLayer(layer, "clients");
    if (rs.length === 0) return undefined;
    const r = rs[0] as RefusalFact;
    const n = rs.reduce((s, x) => s + x.count, 0);
    const ids = [...new Set(rs.map((x) => x.identity))];
    return add({
      code,
      severity: broke ? "critical" : "warning",
      title,
      cause: `${what} ${at(r.first.t)} in: ${n} requests refused, for ${list(ids)}.`,
      evidence: [
        {
          text: `first refusal at ${at(r.first.t)} (${r.identity}), last at ${at(Math.max(...rs.map((x) => x.lastT)))}`,
          events: refs(r.first),
        },
      ],
      consequence: damage(),
      fix: pickFix(input, fix, last),
      causedBy: [...fallbacks, ...bypasses].map((f) => f.id),
    });
  };
  const others = [
    layerFinding(
      "token-service",
      "token-service-throttled",
      "token requests throttled",
      "The token service throttled token requests",
      ["cache-tokens"],
      "cache-tokens",
    ),
    layerFinding(
      "login-lockout",
      "login-lockout",
      "logins locked out",
      "The token service locked accounts out after failed logins",
      ["fix-credentials"],
      "fix-credentials",
    ),
    layerFinding(
      "abuse-limit",
      "abuse-limit",
      "abuse limit tripped",
      "One address sent enough requests to trip the registry's abuse limit",
      ["pace-rollout", "cap-ci-concurrency", "split-egress", "add-mirror"],
      "stop-retry-storm",
    ),
    layerFinding(
      "edge",
      "abuse-limit",
      "edge limit tripped",
      "The registry's edge (CDN) limit refused requests",
      ["pace-rollout", "split-egress", "add-mirror"],
      "stop-retry-storm",
    ),
    layerFinding(
      "misleading-denied",
      "misleading-denied",
      "throttling disguised as DENIED",
      'Under load the registry answered DENIED "requested access to the resource is denied": throttling disguised as an auth error,',
      ["slow-down"],
      "slow-down",
    ),
  ].filter((f): f is Finding => f !== undefined);

  // Upstream faults and network failures.
  const faulted = [...facts.failedPulls].filter(
    ([reason]) => reason.startsWith("server-") || reason.startsWith("network-"),
  );
  if (
    faulted.length > 0 &&
    a.firstBreak &&
    ["fault", "network", "mirror"].includes(a.firstBreak.layer)
  ) {
    const n = faulted.reduce((s, [, f]) => s + f.count, 0);
    const first = faulted.map(([, f]) => f.first).sort((x, y) => x.seq - y.seq)[0];
    others.push(
      add({
        code: "upstream-failure",
        severity: "critical",
        title: "the upstream failed",
        cause: `${n} pulls failed when the registry failed (${list(faulted.map(([r, f]) => `${r} x${f.count}`))}), first at ${at(first?.t ?? 0)}.`,
        evidence: [{ text: `first failed pull at ${at(first?.t ?? 0)}`, events: refs(first) }],
        consequence: damage(),
        fix: pickFix(input, ["add-mirror", "warm-mirror"], "warm-mirror"),
      }),
    );
  }
  if (facts.qps.count > 0)
    others.push(
      add({
        code: "client-qps",
        severity: "warning",
        title: "kubelet's registryPullQPS",
        cause: `kubelet's registryPullQPS (5/s, burst 10) failed ${facts.qps.count} pulls before they left the node, first at ${at(facts.qps.first?.t ?? 0)}.`,
        evidence: [
          {
            text: `${facts.qps.count} pulls failed with reason qps`,
            events: refs(facts.qps.first),
          },
        ],
        consequence: damage(),
        fix: pickFix(input, ["pace-rollout"], "raise-qps"),
      }),
    );

  // 6. Retry storms: pods retried their pulls together.
  const root = quotaFinding ?? others[0] ?? mirrorRoots[0];
  if (
    a.retryAmplification !== null &&
    a.retryAmplification >= 1 &&
    a.summary.pulls.failed > 0 &&
    (a.retryWaves > 1 || a.retryAmplification >= 3)
  )
    add({
      code: "retry-storm",
      severity: "warning",
      title: `ImagePullBackOff waves (${a.retryWaves})`,
      cause: `Failed pulls were retried ${a.retryAmplification} times per pulled image (${facts.pullAttempts} attempts for ${facts.pulledPairs} images across actors)${a.retryWaves > 1 ? `, in ${a.retryWaves} synchronised waves of 429s` : ""}.`,
      evidence: [
        {
          text: `${a.requestsPerPull ?? "-"} requests per successful pull; first failed pull at ${at(facts.firstFailedPull?.t ?? 0)}`,
          events: refs(facts.firstFailedPull),
        },
      ],
      consequence: `up to ${a.blastRadius.peakInBackoff} pods in ImagePullBackOff at once; every wave spends the quota again as soon as it frees`,
      fix: pickFix(input, [], "stop-retry-storm"),
      causedBy: root ? [root.id] : [],
    });

  // 7. Tags that moved under pods that did not follow.
  for (const m of facts.tagMoves) {
    if (m.stale === 0) continue;
    add({
      code: "tag-moved-stale-pods",
      severity: "warning",
      title: `${m.ref} moved; pods stayed on the old image`,
      cause: `The tag ${m.ref} moved at ${at(m.movedAt)}, and ${m.stale} of the ${m.started} pods started on it afterwards never pulled it: under imagePullPolicy IfNotPresent their nodes reused the image they had, so they still run the old build.`,
      evidence: [
        {
          text: `${m.stale} pods on ${m.staleActors.size} nodes started on ${m.ref} after the move without a pull of it; first at ${at(m.first?.t ?? 0)}`,
          events: refs(m.first),
        },
      ],
      consequence: `the fleet is mixed: ${m.stale} pods run the old ${m.image}, while any new node pulls the new one; the design "held" only because nothing was pulled`,
      fix: pickFix(input, ["pin-digest"], "roll-out-new-reference"),
    });
  }

  // 8. Floating tags re-resolved at every start.
  // An image by tag whose pods re-resolve it: :latest (or no tag), or its own pullPolicy Always.
  const floating = scenario.images.some((i) => {
    const ref = parseReference(i.ref);
    return (
      !("error" in ref) &&
      !ref.digest &&
      !i.pinned &&
      (ref.tag === "latest" || i.pullPolicy === "Always")
    );
  });
  if (broke && design.pin === "tag" && (design.pullPolicy === "Always" || floating))
    add({
      code: "floating-tags",
      severity: "warning",
      title: "floating tags re-resolved",
      cause:
        "Floating tags re-resolve at every start (imagePullPolicy Always for :latest): every restart asks the registry again.",
      evidence: [
        {
          text: `${a.summary.upstream.manifestHead} manifest HEADs and ${a.summary.upstream.manifestGet} GETs reached the registry`,
          events: [],
        },
      ],
      consequence: "restarts cost registry requests even when the node has the image",
      fix: pickFix(input, ["pin-digest"], "roll-out-new-reference"),
    });

  // 9. Pre-pull with nothing to act on.
  if (design.prePull && facts.prePulls === 0 && broke)
    add({
      code: "pre-pull-idle",
      severity: "info",
      title: "pre-pull had nothing to act on",
      cause:
        "The design pre-pulls, but no pre-pull ran: pre-pulls act ahead of rolling restarts, and this scenario's cold pulls come from new nodes and CI jobs.",
      evidence: [{ text: "0 pre-pull pulls in the run", events: [] }],
      consequence: "pre-pulling did not lower what reached the registry",
      fix: pickFix(
        input,
        ["add-mirror", "authenticate", "account-per-actor"],
        "mirror-upstream-capacity",
      ),
    });

  // 10. Held, but with little to spare.
  if (a.nearMiss) {
    const n = a.nearMiss;
    const isMirror =
      n.identity === "mirror-bot" ||
      facts.refusals.some((r) => r.who === "mirror" && r.identity === n.identity);
    const load = n.load;
    const loadText = !load
      ? "the load breakpoint was not worked out"
      : load.breaksAt !== null
        ? `breaks at x${load.breaksAt} of this load${load.layer ? ` (${load.layer})` : ""}${load.holdsAt !== null ? `, holds at x${load.holdsAt}` : ""}`
        : `holds up to x${load.maxTried} of this load`;
    add({
      code: "near-miss",
      severity: "warning",
      title: `near miss: ${n.identity} at ${Math.round(n.share * 100)} %`,
      cause: `Holds, near miss: ${n.identity} used ${n.limit - n.minRemaining} of its ${n.limit} ${unit} per ${formatSeconds(n.windowSeconds)} (${Math.round(n.share * 100)} %, ${n.minRemaining} left at ${at(n.at)}), past the ${Math.round(n.threshold * 100)} % threshold; ${loadText}.`,
      evidence: [
        {
          text: `lowest remaining ${n.minRemaining} of ${n.limit} at ${at(n.at)} (${n.identity})`,
          events: refs(facts.lowest.get(n.identity)),
        },
        ...(load
          ? [
              {
                text: `virtual re-runs with the fleet and every workload step scaled: ${load.holdsAt !== null ? `holds at x${load.holdsAt}` : "never held"}, ${load.breaksAt !== null ? `breaks at x${load.breaksAt}` : `held up to x${load.maxTried}`}`,
                events: [],
              },
            ]
          : []),
      ],
      consequence: `${n.minRemaining} ${unit} of headroom: a bigger rollout, a retry wave or a second cluster behind the same ${isMirror ? "mirror account" : "identity"} breaks it`,
      fix: pickFix(
        input,
        isMirror ? ["mirror-upstream-capacity"] : ["add-mirror", "authenticate", "pin-digest"],
        "keep-headroom",
      ),
    });
  }

  // 11. A mirror that served stale answers while the upstream failed, and held.
  const stale = a.mirror?.duringUpstreamFailure.stale;
  if (stale && a.summary.verdict === "holds")
    add({
      code: "stale-served",
      severity: "info",
      title: "mirror served stale",
      cause: `While the upstream failed the mirror served ${stale} cached answer(s).`,
      evidence: [{ text: `${stale} stale answers`, events: [] }],
      consequence: "pods started on what the mirror had cached, which may be older than the tag",
      fix: { code: "alert-on-stale", text: fixText("alert-on-stale", input) },
    });

  // 12. The cheapest design that holds, with the ones skipped.
  if (input.cheapest === name) {
    const broken = input.analyses.filter((x) => x.summary.verdict === "breaks").map((x) => x.name);
    const skipped = input.holding.filter((h) => h.skipped !== null);
    if (broken.length > 0 || skipped.length > 0)
      add({
        code: "cheapest-holding",
        severity: "info",
        title: "cheapest design that holds",
        cause: `${name} is the cheapest design that holds with its expectations met (cost ${a.cost}${broken.length ? `; ${list(broken)} break` : ""}).`,
        evidence: input.holding.map((h) => ({
          text: h.skipped
            ? `${h.design} (cost ${h.cost}) held but is not ranked: ${h.skipped}`
            : `${h.rank}. ${h.design} (cost ${h.cost})${h.nearMiss ? ", holds, near miss" : ""}`,
          events: [],
        })),
        consequence: `${name} is the one to try first`,
        fix: { code: "adopt-design", text: fixText("adopt-design", input, name) },
      });
  }
  return out;
}

/** Each design's longest causal chain (two links or more), root first. */
export function chainsOf(findings: Finding[]): FindingChain[] {
  const byId = new Map(findings.map((f) => [f.id, f]));
  const chains: FindingChain[] = [];
  for (const design of [...new Set(findings.map((f) => f.design))]) {
    const mine = findings.filter((f) => f.design === design);
    // Longest path ending at each finding, following causedBy back to a root.
    const memo = new Map<string, string[]>();
    const pathTo = (f: Finding, depth = 0): string[] => {
      const known = memo.get(f.id);
      if (known) return known;
      let best: string[] = [];
      if (depth < 16)
        for (const c of f.causedBy) {
          const cause = byId.get(c);
          if (!cause) continue;
          const p = pathTo(cause, depth + 1);
          if (p.length > best.length) best = p;
        }
      const path = [...best, f.id];
      memo.set(f.id, path);
      return path;
    };
    let longest: string[] = [];
    for (const f of mine) {
      const p = pathTo(f);
      if (p.length > longest.length) longest = p;
    }
    if (longest.length >= 2)
      chains.push({
        design,
        links: longest,
        text: longest.map((id) => byId.get(id)?.title ?? id).join(" -> "),
      });
  }
  return chains;
}
