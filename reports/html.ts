import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import type {
  Analysis,
  DesignAnalysis,
  FaultWindow,
  Finding,
  HeadroomSeries,
} from "./analysis-types.ts";
import { clockText } from "./clock.ts";
import { chainLines, findingText, registriesText } from "./findings-text.ts";
import { MARK_ACTION_TEXT, markRows } from "./marks.ts";
import { type ExpectationResult, failed, p95StartOf } from "./summary.ts";
import { formatDuration, resultText } from "./terminal.ts";

/**
 * report.html: the run as a game-day write-up, in one self-contained file.
 *
 * Everything is inlined: the analysis as JSON, uPlot's script and stylesheet
 * (read from node_modules when rendering), the page's own script and styles. A
 * Content-Security-Policy with hashes of exactly those inline blocks forbids any
 * other script, style or connection, so the file works offline and cannot
 * fetch anything even if a string in the analysis were hostile (and every
 * string is escaped anyway). Without JavaScript the tables carry every number.
 */

const require = createRequire(import.meta.url);

interface Assets {
  uplotJs: string;
  uplotCss: string;
  uplotVersion: string;
  js: string;
  css: string;
}

let assets: Assets | undefined;

function loadAssets(): Assets {
  if (assets) return assets;
  const uplotDist = (file: string) => readFileSync(require.resolve(`uplot/dist/${file}`), "utf8");
  const own = (file: string) => readFileSync(new URL(`./html/${file}`, import.meta.url), "utf8");
  const pkg = JSON.parse(readFileSync(require.resolve("uplot/package.json"), "utf8")) as {
    version: string;
  };
  assets = {
    uplotJs: inlineScript(uplotDist("uPlot.iife.min.js")),
    uplotCss: inlineStyle(uplotDist("uPlot.min.css")),
    uplotVersion: pkg.version,
    js: inlineScript(own("report.js")),
    css: inlineStyle(own("report.css")),
  };
  return assets;
}

/** uPlot's script and stylesheet, ready to inline, and its version (the live console uses them too). */
export function uplotAssets(): { js: string; css: string; version: string } {
  const { uplotJs, uplotCss, uplotVersion } = loadAssets();
  return { js: uplotJs, css: uplotCss, version: uplotVersion };
}

/** A script's text can only end its element with `</script`; in JS that sequence can be written `<\/script`. */
export function inlineScript(code: string): string {
  return code.replace(/<\/(script)/gi, "<\\/$1").replace(/<!--/g, "<\\!--");
}

export function inlineStyle(css: string): string {
  if (/<\/style/i.test(css)) throw new Error("stylesheet contains </style");
  return css;
}

/** A CSP source allowing exactly this inline block. */
export const sha256 = (text: string) =>
  `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;

/** Text and attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value ?? "")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/** JSON for a <script type="application/json"> block: no `</script`, `<!--` or line separators survive. */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/&/g, "\\u0026")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

const esc = escapeHtml;

/** Simulated seconds as a game-day clock: 45s, 26m37s, 1h05m, 2h00m. */
function clock(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "-";
  const v = Math.round(seconds);
  const h = Math.floor(v / 3600);
  const m = Math.floor((v % 3600) / 60);
  const s = v % 60;
  if (h > 0)
    return `${h}h${String(m).padStart(2, "0")}m${s ? `${String(s).padStart(2, "0")}s` : ""}`;
  if (m > 0) return s === 0 ? `${m}m` : `${m}m${String(s).padStart(2, "0")}s`;
  return `${s}s`;
}

/** A latency: 1.4 s, 38 s, 6m33s. */
function latency(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "-";
  if (seconds < 10) return `${Math.round(seconds * 10) / 10} s`;
  if (seconds < 120) return `${Math.round(seconds)} s`;
  return clock(seconds);
}

const int = (n: number | null | undefined) =>
  n === null || n === undefined ? "-" : Math.round(n).toLocaleString("en-US");
/** A count a real mirror does not show: "unknown", never 0. */
const known = (n: number | null) => (n === null ? "unknown" : int(n));
const pct = (share: number | null | undefined, digits = 1) =>
  share === null || share === undefined ? "-" : `${(share * 100).toFixed(digits)}%`;
const ratio = (n: number | null | undefined, digits = 2) =>
  n === null || n === undefined || !Number.isFinite(n)
    ? "-"
    : String(Math.round(n * 10 ** digits) / 10 ** digits);

function badge(kind: string, text?: string): string {
  return `<span class="badge ${esc(kind)}">${esc(text ?? kind)}</span>`;
}

function unitsOf(d: DesignAnalysis): number {
  const u = d.summary.units;
  return u.pods + u.jobs + u.desktops;
}

function p95Start(d: DesignAnalysis): number | null {
  return d.startLatency ? d.startLatency.p95 : p95StartOf(d.summary);
}

/** Dense rank by cost, 1 = cheapest. */
function costRanks(designs: DesignAnalysis[]): Map<string, number> {
  const costs = [...new Set(designs.map((d) => d.cost))].sort((a, b) => a - b);
  return new Map(designs.map((d) => [d.name, costs.indexOf(d.cost) + 1]));
}

/** The ten identities closest to running out, as the chart shows them. */
function topHeadroom(series: HeadroomSeries[]): HeadroomSeries[] {
  return [...series]
    .sort(
      (a, b) =>
        a.minRemaining / (a.limit || 1) - b.minRemaining / (b.limit || 1) ||
        (a.exhaustedAt ?? Number.POSITIVE_INFINITY) - (b.exhaustedAt ?? Number.POSITIVE_INFINITY) ||
        a.identity.localeCompare(b.identity),
    )
    .slice(0, 10);
}

function scopeText(scope: unknown): string {
  if (scope === undefined || scope === null) return "everything";
  if (typeof scope === "string") return scope;
  try {
    return JSON.stringify(scope);
  } catch {
    return String(scope);
  }
}

function faultSpan(f: FaultWindow): string {
  return `${clock(f.start)} – ${f.end === null ? "end of run" : clock(f.end)}`;
}

// ---------------------------------------------------------------- sections

function header(a: Analysis): string {
  const s = a.scenario;
  return `<header>
<div class="kicker">pullstorm game day</div>
<h1>${esc(s.name)}</h1>
<p class="meta"><span>${esc(s.mode)} run</span><span>seed ${esc(s.seed)}</span><span>${esc(clock(s.durationSeconds))} simulated</span><span>preset <code>${esc(s.preset)}</code>${esc(registriesText(s))}</span><span>${a.designs.length} design${a.designs.length === 1 ? "" : "s"}</span></p>
${s.interrupted ? `<p class="banner">This run was interrupted: the numbers cover only what was collected before it stopped.</p>` : ""}
${clockBanner(a)}
<p class="banner nojs">JavaScript is off: the charts are not drawn, the tables below carry every number.</p>
</header>`;
}

/** Live runs: whether the clock kept up (a banner when it did not). */
function clockBanner(a: Analysis): string {
  const text = clockText(a.clock);
  if (!text) return "";
  const details = text.details.map((d) => `<li>${esc(d)}</li>`).join("");
  return text.keptUp
    ? `<p class="meta clock">${esc(text.headline)}</p><ul class="note clock">${details}</ul>`
    : `<div class="banner clock"><p><strong>${esc(text.headline)}</strong></p><ul>${details}</ul></div>`;
}

function hypothesis(a: Analysis): string {
  const byDesign = new Map<string, ExpectationResult[]>();
  for (const e of a.expectations) byDesign.set(e.design, [...(byDesign.get(e.design) ?? []), e]);
  const items = [...byDesign.entries()]
    .map(
      ([design, es]) =>
        `<li><strong>${esc(design)}</strong>: ${es.map((e) => `<code>${esc(e.check)}</code>`).join(", ")}</li>`,
    )
    .join("\n");
  const faults =
    a.faults.length === 0
      ? `<p class="note">No faults were injected: the registry's own throttling is the only adversary.</p>`
      : `<h4>Faults injected</h4>
<table>
<thead><tr><th>Fault</th><th>Type</th><th>Window</th><th>Scope</th></tr></thead>
<tbody>
${a.faults
  .map(
    (f) =>
      `<tr><td><code>${esc(f.id)}</code></td><td>${esc(f.type)}</td><td class="num">${esc(faultSpan(f))}</td><td><code>${esc(scopeText(f.scope))}</code></td></tr>`,
  )
  .join("\n")}
</tbody>
</table>`;
  return `<section id="scenario">
<h2>1. Scenario and hypothesis</h2>
<p class="hypothesis">${esc(a.scenario.description)}</p>
${
  items
    ? `<p>What we expected each design to do (the steady state each one must keep):</p>
<ul>
${items}
</ul>`
    : `<p class="note">The scenario states no expectations.</p>`
}
${faults}
${marksTable(a)}
</section>`;
}

/** The game-day marks (notes and control actions from the live console), when there are any. */
function marksTable(a: Analysis): string {
  if (a.marks.length === 0) return "";
  return `<h4 id="marks">Game-day marks</h4>
<p>Marked from the live console during the run, at simulated time:</p>
<table>
<thead><tr><th>At</th><th>What</th><th>Designs</th><th>Note</th></tr></thead>
<tbody>
${markRows(a.marks)
  .map(
    (m) =>
      `<tr><td class="num">${esc(formatDuration(m.t))}</td><td>${esc(MARK_ACTION_TEXT[m.action])}</td><td>${esc(m.designs.join(", "))}</td><td>${esc(m.text)}</td></tr>`,
  )
  .join("\n")}
</tbody>
</table>`;
}

function outcome(a: Analysis): string {
  const broken = a.designs.filter((d) => d.summary.verdict === "breaks");
  const passed = a.expectations.filter((e) => e.passed).length;
  const failures = a.expectations.filter(failed).length;
  const skipped = a.expectations.filter((e) => e.skipped !== undefined).length;
  const incomplete = a.designs.filter((d) => d.summary.verdict === "incomplete").length;
  const cheapest = a.designs.find((d) => d.name === a.cheapestHolding);
  const earliest = [...broken]
    .filter((d) => d.firstBreak)
    .sort((x, y) => (x.firstBreak?.t ?? 0) - (y.firstBreak?.t ?? 0))[0];
  return `<div class="outcome">
<div><div class="label">Cheapest design that holds</div><div class="value">${cheapest ? `★ ${esc(cheapest.name)}` : "none"}</div><div class="sub">${cheapest ? `cost ${esc(cheapest.cost)}, expectations met` : "no design held with all its expectations met"}${a.holding
    .filter((h) => h.skipped !== null)
    .map((h) => `<br>${esc(h.design)} held but is not ranked: ${esc(h.skipped)}`)
    .join("")}</div></div>
<div><div class="label">Designs that break</div><div class="value">${broken.length} of ${a.designs.length}</div><div class="sub">${earliest?.firstBreak ? `earliest: ${esc(earliest.name)} at ${esc(clock(earliest.firstBreak.t))} (${esc(earliest.firstBreak.layer)})` : "none broke"}${incomplete > 0 ? `; ${incomplete} incomplete (interrupted)` : ""}</div></div>
<div><div class="label">Expectations</div><div class="value">${passed} of ${a.expectations.length} pass</div><div class="sub">${failures === 0 ? (skipped > 0 ? `${skipped} skipped: interrupted` : "as predicted") : `${failures} failed${skipped > 0 ? `, ${skipped} skipped` : ""}: see section 6`}</div></div>
</div>`;
}

function matrix(a: Analysis): string {
  const ranks = costRanks(a.designs);
  const rows = a.designs
    .map((d, i) => {
      const s = d.summary;
      const cheapest = d.name === a.cheapestHolding;
      const es = a.expectations.filter((e) => e.design === d.name);
      const fb = d.firstBreak;
      const never = s.units.failed;
      const p95 = p95Start(d);
      return `<tr${cheapest ? ` class="cheapest"` : ""}>
<td><a href="#design-${i + 1}">${esc(d.name)}</a>${cheapest ? ` ${badge("star", "★ cheapest that holds")}` : ""}</td>
<td>${badge(s.verdict)}${d.nearMiss ? ` ${badge("near-miss", `near miss ${pct(d.nearMiss.share, 0)}`)}` : ""}</td>
<td>${fb ? `${esc(clock(fb.t))} <span class="layer">${esc(fb.layer)}</span>` : "-"}</td>
<td class="num">${int(s.pulls.failed)} <span class="note">of ${int(s.pulls.total)}</span></td>
<td class="num">${int(s.units.started)} <span class="note">of ${int(unitsOf(d))}</span></td>
<td class="num">${int(s.upstream.manifestGet)}</td>
<td class="num">${int(s.upstream.status["429"] ?? 0)}</td>
<td class="num">${esc(latency(p95))}${never > 0 ? ` <span class="note">${int(never)} never started</span>` : ""}</td>
<td class="num">${ranks.get(d.name)} <span class="note">cost ${esc(d.cost)}</span></td>
<td class="num">${es.length === 0 ? "-" : `${es.filter((e) => e.passed).length}/${es.length}`}${es.some((e) => e.skipped !== undefined) ? ` <span class="note">${es.filter((e) => e.skipped !== undefined).length} skipped</span>` : ""}</td>
</tr>`;
    })
    .join("\n");
  return `<section id="steady-state">
<h2>2. Steady state: the design matrix</h2>
${outcome(a)}
<table class="matrix">
<thead><tr><th>Design</th><th>Verdict</th><th>First break</th><th class="num">Failed pulls</th><th class="num">Units started</th><th class="num">Upstream manifest GETs</th><th class="num">Upstream 429s</th><th class="num">p95 start</th><th class="num">Cost rank</th><th class="num">Expectations</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
<p class="note">Upstream counts are what reached the origin registry (behind a mirror, only what the mirror sent on). Cost rank orders the designs' knobs (accounts, egress IPs, a mirror, pre-pulls), 1 = cheapest.</p>
<figure>
<div class="chart" data-chart="cdf-all"></div>
<figcaption>Start latency of every pod, job or desktop that started, all designs (CDF).</figcaption>
</figure>
</section>`;
}

function stat(label: string, value: string): string {
  return `<div><div class="label">${esc(label)}</div><div class="value">${value}</div></div>`;
}

function breakText(d: DesignAnalysis): string {
  const fb = d.firstBreak;
  if (!fb && d.summary.verdict === "incomplete")
    return `<p class="incomplete"><strong>Incomplete.</strong> No break before the interrupt at ${esc(clock(d.summary.interruptedAtSeconds ?? 0))}: the run stopped before it could tell whether this design holds.</p>`;
  if (!fb)
    return `<p class="held"><strong>Held.</strong> No pull failed and every unit started (${int(d.summary.units.started)} of ${int(unitsOf(d))}).</p>`;
  return `<p class="firstbreak"><strong>First break at ${esc(clock(fb.t))}</strong>: <code>${esc(fb.actor)}</code>${fb.identity ? ` as <code>${esc(fb.identity)}</code>` : ""}${fb.image ? ` pulling <code>${esc(fb.image)}</code>` : ""}, refused by <span class="layer">${esc(fb.layer)}</span>: ${esc(fb.reason)}${fb.status !== undefined ? ` (HTTP ${esc(fb.status)})` : ""}.</p>`;
}

function blastRadius(d: DesignAnalysis): string {
  const b = d.blastRadius;
  return `<table class="kv">
<tbody>
<tr><th>Units (pods, jobs, desktops)</th><td class="num">${int(b.units)}</td></tr>
<tr><th>Peak waiting to start</th><td class="num">${int(b.peakWaiting)} (${pct(b.peakWaitingShare)})${b.peakAt !== null ? ` at ${esc(clock(b.peakAt))}` : ""}</td></tr>
<tr><th>Peak in backoff (ImagePullBackOff)</th><td class="num">${int(b.peakInBackoff)}</td></tr>
<tr><th>Never started</th><td class="num">${int(d.summary.units.failed)}</td></tr>
<tr><th>Retry amplification (retries per pull)</th><td class="num">${ratio(d.retryAmplification)}</td></tr>
<tr><th>Requests per successful pull</th><td class="num">${ratio(d.requestsPerPull)}</td></tr>
<tr><th>Retry waves</th><td class="num">${int(d.retryWaves)}</td></tr>
</tbody>
</table>`;
}

function mirrorTable(d: DesignAnalysis): string {
  const m = d.mirror;
  if (!m) return "";
  return `<h4>Mirror effectiveness</h4>
<table class="kv">
<tbody>
<tr><th>Served by</th><td>${esc(m.servedBy)}</td></tr>
<tr><th>Client requests</th><td class="num">${int(m.clientRequests)}</td></tr>
<tr><th>Hits / misses</th><td class="num">${known(m.hits)} / ${known(m.misses)}</td></tr>
<tr><th>Revalidated / stale</th><td class="num">${known(m.revalidated)} / ${known(m.stale)}</td></tr>
<tr><th>Errors</th><td class="num">${known(m.errors)}</td></tr>
<tr><th>Hit ratio${m.hitRatioFrom === "offload" ? " (GETs answered without upstream)" : ""}</th><td class="num">${pct(m.hitRatio)} <meter min="0" max="1" value="${esc(m.hitRatio)}"></meter></td></tr>
<tr><th>Upstream pulls charged per client pull</th><td class="num">${ratio(m.upstreamCountedPerPull, 3)}</td></tr>
<tr><th>While the upstream failed</th><td class="num">${known(m.duringUpstreamFailure.stale)} stale, ${known(m.duringUpstreamFailure.errors)} errors</td></tr>
</tbody>
</table>`;
}

function heavyHitters(d: DesignAnalysis): string {
  if (d.heavyHitters.length === 0)
    return `<h4>Heavy hitters</h4><p class="note">Nothing reached the origin registry.</p>`;
  return `<h4>Heavy hitters (upstream requests by identity)</h4>
<table>
<thead><tr><th>Identity</th><th class="num">Upstream requests</th><th class="num">Share</th><th></th></tr></thead>
<tbody>
${d.heavyHitters
  .map(
    (h) =>
      `<tr><td><code>${esc(h.identity)}</code></td><td class="num">${int(h.upstreamRequests)}</td><td class="num">${pct(h.share)}</td><td><meter min="0" max="1" value="${esc(h.share)}"></meter></td></tr>`,
  )
  .join("\n")}
</tbody>
</table>`;
}

function headroomTable(d: DesignAnalysis): string {
  if (d.headroom.length === 0) return "";
  const shown = topHeadroom(d.headroom);
  const more = d.headroom.length - shown.length;
  return `<details>
<summary>Quota headroom per identity (${shown.length}${more > 0 ? ` of ${d.headroom.length}, least headroom first` : ""})</summary>
<table>
<thead><tr><th>Identity</th><th class="num">Limit</th><th class="num">Window</th><th class="num">Lowest remaining</th><th class="num">Exhausted at</th><th class="num">First 429</th></tr></thead>
<tbody>
${shown
  .map(
    (h) =>
      `<tr><td><code>${esc(h.identity)}</code></td><td class="num">${int(h.limit)}</td><td class="num">${esc(clock(h.windowSeconds))}</td><td class="num">${int(h.minRemaining)}</td><td class="num">${h.exhaustedAt === null ? "-" : esc(clock(h.exhaustedAt))}</td><td class="num">${h.firstRefusedAt === null ? "-" : esc(clock(h.firstRefusedAt))}</td></tr>`,
  )
  .join("\n")}
</tbody>
</table>
</details>`;
}

function timelineTable(d: DesignAnalysis): string {
  const active = d.timeline.filter(
    (b) => b.requests || b.status429 || b.pullsOk || b.pullsFailed || b.waiting || b.inBackoff,
  );
  return `<details>
<summary>Timeline data (${active.length} of ${d.timeline.length} buckets of ${esc(d.bucketSeconds)} s had activity)</summary>
<table>
<thead><tr><th class="num">From</th><th class="num">Requests</th><th class="num">Upstream</th><th class="num">429s</th><th class="num">Pulls ok</th><th class="num">Pulls failed</th><th class="num">Waiting</th><th class="num">In backoff</th></tr></thead>
<tbody>
${active
  .map(
    (b) =>
      `<tr><td class="num">${esc(clock(b.t))}</td><td class="num">${int(b.requests)}</td><td class="num">${int(b.upstreamRequests)}</td><td class="num">${int(b.status429)}</td><td class="num">${int(b.pullsOk)}</td><td class="num">${int(b.pullsFailed)}</td><td class="num">${int(b.waiting)}</td><td class="num">${int(b.inBackoff)}</td></tr>`,
  )
  .join("\n")}
</tbody>
</table>
</details>`;
}

function designSection(a: Analysis, d: DesignAnalysis, i: number, rank: number): string {
  const s = d.summary;
  const cheapest = d.name === a.cheapestHolding;
  const sl = d.startLatency;
  const shownHeadroom = Math.min(10, d.headroom.length);
  const name = esc(d.name);
  return `<section class="design" id="design-${i + 1}">
<header><h3>${name}</h3> ${badge(s.verdict)}${d.nearMiss ? ` ${badge("near-miss", `near miss ${pct(d.nearMiss.share, 0)}`)}` : ""}${cheapest ? ` ${badge("star", "★ cheapest that holds")}` : ""}<span class="cost">cost rank ${rank} (cost ${esc(d.cost)})</span></header>
${breakText(d)}
<div class="stats">
${stat("pulls ok / failed", `${int(s.pulls.ok + s.pulls.cached)} / ${int(s.pulls.failed)}`)}
${stat("upstream pulls charged", int(s.upstream.pulls ?? 0))}
${stat("upstream manifest GET / HEAD requests", `${int(s.upstream.manifestGet)} / ${int(s.upstream.manifestHead)}`)}
${stat("upstream 429s", int(s.upstream.status["429"] ?? 0))}
${stat("start p50 / p95", sl ? `${esc(latency(sl.p50))} / ${esc(latency(sl.p95))}` : "-")}
${stat("start p99 / max", sl ? `${esc(latency(sl.p99))} / ${esc(latency(sl.max))}` : "-")}
${stat("units started", `${int(s.units.started)} / ${int(unitsOf(d))}`)}
</div>
<figure>
<div class="chart" data-chart="timeline" data-design="${name}"></div>
<figcaption>Requests, 429s and failed pulls per ${esc(d.bucketSeconds)} s bucket (left axis); units waiting and in backoff (dashed, right axis).${a.faults.length > 0 ? " Shaded: fault windows." : ""}${d.firstBreak ? " Red dashed line: first break." : ""}</figcaption>
</figure>
<div class="grid2">
<figure>
<div class="chart" data-chart="headroom" data-design="${name}"></div>
<figcaption>${
    d.headroom.length === 0
      ? "Quota remaining: no RateLimit headers were seen."
      : `Quota remaining per identity${d.headroom.length > shownHeadroom ? `: the ${shownHeadroom} of ${d.headroom.length} identities with the least headroom` : ""}.`
  }</figcaption>
</figure>
<figure>
<div class="chart" data-chart="cdf" data-design="${name}"></div>
<figcaption>Start latency (CDF) of the ${int(sl?.count ?? 0)} units that started${s.units.failed > 0 ? `; ${int(s.units.failed)} never did` : ""}.</figcaption>
</figure>
</div>
<div class="grid2">
<div>
<h4>Blast radius</h4>
${blastRadius(d)}
${mirrorTable(d)}
</div>
<div>
${heavyHitters(d)}
${headroomTable(d)}
</div>
</div>
${timelineTable(d)}
</section>`;
}

function designs(a: Analysis): string {
  const ranks = costRanks(a.designs);
  return `<section id="designs">
<h2>3. What happened, design by design</h2>
${a.designs.map((d, i) => designSection(a, d, i, ranks.get(d.name) ?? 0)).join("\n")}
</section>`;
}

const SEVERITY_ORDER: Record<Finding["severity"], number> = { critical: 0, warning: 1, info: 2 };

function findings(a: Analysis): string {
  const sorted = [...a.findings].sort(
    (x, y) => SEVERITY_ORDER[x.severity] - SEVERITY_ORDER[y.severity],
  );
  const body =
    sorted.length === 0
      ? `<p class="note">No findings.</p>`
      : `<ol class="findings">
${sorted
  .map((f) => {
    const text = findingText(f);
    return `<li class="${esc(f.severity)}" id="finding-${esc(f.id.replaceAll("/", "-"))}">
<div class="head">${badge(f.severity)} <strong>${esc(f.design)}</strong> <code>${esc(f.code)}</code></div>
<p class="diagnosis">${esc(f.cause)}</p>
<ul class="evidence">${text.evidence.map((e) => `<li>${esc(e)}</li>`).join("")}</ul>
<p class="consequence">So: ${esc(text.consequence)}</p>${text.after ? `\n<p class="after">Follows from: ${esc(text.after)}</p>` : ""}
<p class="fix">${esc(text.fix)}</p>
</li>`;
  })
  .join("\n")}
</ol>`;
  const chains = chainLines(a);
  return `<section id="findings">
<h2>4. Findings: diagnosis → fix</h2>
${chains.length > 0 ? `<p class="note">Causal chains:</p>\n<ul class="chains">${chains.map((c) => `<li>${esc(c)}</li>`).join("")}</ul>\n` : ""}${body}
</section>`;
}

function actionItems(a: Analysis): string {
  // One item per distinct fix of a critical or warning finding, then one per failed expectation.
  const byFix = new Map<string, { severity: Finding["severity"]; designs: string[] }>();
  for (const f of [...a.findings].sort(
    (x, y) => SEVERITY_ORDER[x.severity] - SEVERITY_ORDER[y.severity],
  )) {
    if (f.severity === "info") continue;
    const fix = findingText(f).fix;
    const item = byFix.get(fix);
    if (item) {
      if (!item.designs.includes(f.design)) item.designs.push(f.design);
    } else byFix.set(fix, { severity: f.severity, designs: [f.design] });
  }
  const items = [...byFix.entries()].map(
    ([fix, item]) =>
      `<li>${badge(item.severity)} ${esc(fix)} <span class="who">(${item.designs.map(esc).join(", ")})</span></li>`,
  );
  for (const e of a.expectations.filter(failed))
    items.push(
      `<li>${badge("fail")} Explain or fix <strong>${esc(e.design)}</strong>: expected <code>${esc(e.check)}</code>, got <code>${esc(e.actual ?? "nothing")}</code>.</li>`,
    );
  if (a.cheapestHolding)
    items.push(
      `<li>${badge("info")} Adopt <strong>${esc(a.cheapestHolding)}</strong>, the cheapest design that held, and re-run this scenario against it before the rollout.</li>`,
    );
  return `<section id="actions">
<h2>5. Action items</h2>
${items.length === 0 ? `<p class="note">Nothing to do.</p>` : `<ul class="actions">\n${items.join("\n")}\n</ul>`}
</section>`;
}

function expectations(a: Analysis): string {
  const body =
    a.expectations.length === 0
      ? `<p class="note">The scenario states no expectations.</p>`
      : `<table>
<thead><tr><th>Design</th><th>Check</th><th class="num">Actual</th><th>Result</th></tr></thead>
<tbody>
${a.expectations
  .map(
    (e) =>
      `<tr><td>${esc(e.design)}</td><td><code>${esc(e.check)}</code></td><td class="num">${esc(e.actual ?? "-")}</td><td>${e.skipped !== undefined ? `${badge("skip", resultText(e))} <span class="note">${esc(e.skipped)}</span>` : e.passed ? badge("pass") : badge("fail")}</td></tr>`,
  )
  .join("\n")}
</tbody>
</table>`;
  return `<section id="expectations">
<h2>6. Expectations</h2>
${body}
</section>`;
}

/** The whole report as one self-contained HTML document. */
export function renderHtml(analysis: Analysis): string {
  const { uplotJs, uplotCss, uplotVersion, js, css } = loadAssets();
  const csp = [
    "default-src 'none'",
    `script-src ${sha256(uplotJs)} ${sha256(js)}`,
    `style-src ${sha256(uplotCss)} ${sha256(css)}`,
    "img-src data: blob:",
    "connect-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join("; ");
  const title = `${analysis.scenario.name}: pullstorm game-day report`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${esc(csp)}">
<meta name="generator" content="pullstorm">
<title>${esc(title)}</title>
<link rel="icon" href="data:,">
<style>${uplotCss}</style>
<style>${css}</style>
</head>
<body>
<main>
${header(analysis)}
${hypothesis(analysis)}
${matrix(analysis)}
${designs(analysis)}
${findings(analysis)}
${actionItems(analysis)}
${expectations(analysis)}
<footer>Written by pullstorm from the run's analysis (embedded below as JSON). Charts by uPlot ${esc(uplotVersion)} (MIT), inlined: this file makes no network requests.</footer>
</main>
<script type="application/json" id="pullstorm-analysis">${jsonForScript(analysis)}</script>
<script>${uplotJs}</script>
<script>${js}</script>
</body>
</html>
`;
}

/** Writes `dir/report.html` and returns its path. */
export function writeHtmlReport(analysis: Analysis, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, "report.html");
  writeFileSync(path, renderHtml(analysis));
  return path;
}
