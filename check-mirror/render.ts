/**
 * A check-mirror report as terminal text, Markdown and JUnit XML, in the
 * style of the run reports (reports/): verdict first, findings as diagnosis ->
 * fix, the evidence after. All are pure functions of the report.
 */
import { createColors } from "picocolors";
import { create } from "xmlbuilder2";
import type {
  CheckedPull,
  CheckFinding,
  CheckMirrorReport,
  FallbackResult,
  ImageResult,
  Tally,
} from "./types.ts";

const WIDTH = 100;
const RANK = { critical: 0, warning: 1, info: 2 } as const;

/** Greedy word wrap paragraph by paragraph; an empty paragraph stays an empty line. */
function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  for (const paragraph of text.split("\n")) {
    const words = paragraph.split(/\s+/).filter(Boolean);
    let line = words.shift() ?? "";
    for (const word of words)
      if (line.length + 1 + word.length <= width) line += ` ${word}`;
      else {
        out.push(line);
        line = word;
      }
    out.push(line);
  }
  return out;
}

export function rankFindings(findings: CheckFinding[]): CheckFinding[] {
  return findings
    .map((f, i) => ({ f, i }))
    .sort((a, b) => RANK[a.f.severity] - RANK[b.f.severity] || a.i - b.i)
    .map((x) => x.f);
}

/** "1 tag, 2 by digest, 4 blobs" (what a host was asked for). */
export function tallyText(t: Tally): string {
  if (t.requests === 0) return "nothing";
  const parts = [
    t.manifestsByTag ? `${t.manifestsByTag} manifest by tag` : "",
    t.manifestsByDigest ? `${t.manifestsByDigest} by digest` : "",
    t.blobs ? `${t.blobs} blob${t.blobs === 1 ? "" : "s"}` : "",
    t.tokens ? `${t.tokens} token` : "",
    t.other ? `${t.other} other` : "",
  ].filter(Boolean);
  const failed = t.failed ? `, ${t.failed} failed` : "";
  const counted = t.counted ? `, ${t.counted} counted against the pull limit` : "";
  return `${parts.join(", ")}${failed}${counted}`;
}

const VERDICT_TEXT = {
  mirror: "through the mirror",
  upstream: "straight to the registry",
  both: "mirror and registry",
  failed: "failed",
};

function fallbackText(f: FallbackResult): string {
  if ("skipped" in f) return `not tried: ${f.skipped}`;
  const how =
    f.outcome === "fell-back-upstream"
      ? `fell back to the registry${f.silent ? " without an error" : ""}`
      : f.outcome === "failed"
        ? `the pull failed${f.error ? ` (${f.error})` : ""}`
        : "still served by a mirror";
  const tried = f.mirror.requests ? `; the dead mirror was tried ${f.mirror.requests} time(s)` : "";
  return `${how}${f.outcome === "fell-back-upstream" ? ` (${tallyText(f.upstream)})` : ""}${tried}`;
}

function configuredText(i: ImageResult): string {
  const hosts = i.configured.hosts
    .map((h) => `${h.host} [${h.role}${h.for.length < 2 ? `, ${h.for.join("") || "unused"}` : ""}]`)
    .join(" -> ");
  return `${i.configured.source ?? "no configuration applies"}: ${hosts}`;
}

function driverText(r: CheckMirrorReport): string {
  const d = r.driver;
  return d.kind === "real"
    ? `${d.program} ${d.version ?? ""}`.trim()
    : `a model of ${d.program.replace(/ \(model\)$/, "")} (${d.reason ?? ""})`;
}

function mirrorText(r: CheckMirrorReport): string {
  const m = r.mirror;
  const what =
    m.backend === "process"
      ? `${m.program} ${m.version ?? ""}`.trim()
      : `the simulator's model of distribution (${m.reason ?? ""})`;
  return `${what}${m.serves === "digests" ? ", serving by digest only" : ""}`;
}

export function renderCheckTerminal(
  report: CheckMirrorReport,
  options: { color: boolean },
): string {
  const c = createColors(options.color);
  const lines: string[] = [];
  lines.push(
    `${c.bold("pullstorm check-mirror")}: ${report.runtime} nodes, ${report.config.kind} ${report.config.path}${report.config.readByRuntime ? "" : c.red(` (not read by ${report.runtime})`)}`,
  );
  lines.push(c.dim(`  pulled with ${driverText(report)}; mirror: ${mirrorText(report)}`));
  lines.push(c.dim("  every configured host mapped onto a stand-in on 127.0.0.1"));
  for (const i of report.images) {
    const v = i.pull.verdict;
    const paint = v === "mirror" ? c.green : c.red;
    lines.push("");
    lines.push(`  ${c.bold(i.image)}  ${paint(c.bold(VERDICT_TEXT[v].toUpperCase()))}`);
    lines.push(`    configured   ${configuredText(i)}`);
    lines.push(`    mirror up    mirror: ${tallyText(i.pull.mirror)}`);
    lines.push(`                 registry: ${tallyText(i.pull.upstream)}`);
    if (i.pull.verdict === "failed")
      lines.push(`                 ${c.red(i.pull.error ?? "failed")}`);
    const f = i.fallback;
    const fpaint =
      "skipped" in f ? c.dim : f.outcome === "fell-back-upstream" ? c.yellow : (s: string) => s;
    const [first = "", ...rest] = wrap(fallbackText(f), WIDTH - 17);
    lines.push(`    mirror down  ${fpaint(first)}`);
    for (const l of rest) lines.push(`                 ${fpaint(l)}`);
  }
  const ranked = rankFindings(report.findings);
  if (ranked.length > 0) {
    lines.push("");
    lines.push(c.bold("  Findings"));
    for (const f of ranked) {
      const paint =
        f.severity === "critical" ? c.red : f.severity === "warning" ? c.yellow : c.cyan;
      const [first = "", ...rest] = wrap(`${f.title} [${f.id}]`, WIDTH - 14);
      lines.push(`    ${paint(f.severity.toUpperCase().padEnd(8))}  ${c.bold(first)}`);
      for (const l of rest) lines.push(`              ${c.bold(l)}`);
      for (const l of wrap(f.detail, WIDTH - 14)) lines.push(`              ${l}`);
      if (f.fix) {
        lines.push(`              ${c.dim("fix:")}`);
        // Prose is wrapped; configuration lines are printed as they are, to be copied.
        for (const l of f.fix.split("\n"))
          for (const w of /^[A-Z]/.test(l) && l.length > WIDTH - 16 ? wrap(l, WIDTH - 16) : [l])
            lines.push(`                ${w}`);
      }
    }
  }
  lines.push("");
  lines.push(
    report.exitCode === 0
      ? c.green(c.bold("  verdict: pulls of these images go through a mirror"))
      : c.red(
          c.bold(
            report.config.readByRuntime
              ? "  verdict: the configuration leaves pulls going to the registry"
              : `  verdict: ${report.runtime} does not read this configuration; pulls go to the registry`,
          ),
        ),
  );
  return `${lines.join("\n")}\n`;
}

function md(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

export function renderCheckMarkdown(report: CheckMirrorReport): string {
  const out: string[] = [];
  const ok = report.exitCode === 0;
  out.push(`# check-mirror: ${report.runtime} nodes, ${report.config.kind}`);
  out.push("");
  out.push(
    `**Verdict: ${ok ? "pulls go through a mirror" : report.config.readByRuntime ? "pulls still reach the registry" : `${report.runtime} does not read this configuration`}** (exit ${report.exitCode})`,
  );
  out.push("");
  out.push(
    `- configuration: \`${report.config.path}\` (${report.config.kind}${report.config.readByRuntime ? "" : `, not read by ${report.runtime}`})`,
  );
  out.push(`- pulled with: ${driverText(report)}`);
  out.push(`- mirror: ${mirrorText(report)}`);
  out.push(
    "- every host in the configuration was mapped onto a stand-in on 127.0.0.1; nothing else was contacted",
  );
  out.push("");
  out.push("| image | verdict | mirror (mirror up) | registry (mirror up) | mirror down |");
  out.push("|---|---|---|---|---|");
  for (const i of report.images)
    out.push(
      `| \`${i.image}\` | ${i.pull.verdict} | ${md(tallyText(i.pull.mirror))} | ${md(tallyText(i.pull.upstream))} | ${md(fallbackText(i.fallback))} |`,
    );
  const ranked = rankFindings(report.findings);
  if (ranked.length > 0) {
    out.push("");
    out.push("## Findings");
    for (const f of ranked) {
      out.push("");
      out.push(`### ${f.severity}: ${f.title}`);
      out.push("");
      out.push(
        `\`${f.id}\`${f.images.length ? ` (${f.images.map((i) => `\`${i}\``).join(", ")})` : ""}`,
      );
      out.push("");
      out.push(f.detail);
      if (f.fix) {
        out.push("");
        out.push("Fix:");
        out.push("");
        out.push("```");
        out.push(f.fix);
        out.push("```");
      }
    }
  }
  out.push("");
  out.push("## Evidence");
  for (const i of report.images) {
    out.push("");
    out.push(`### \`${i.image}\` (pulled as \`${i.pulledAs}\`)`);
    out.push("");
    out.push(`Configured: ${configuredText(i)}`);
    for (const [label, p] of [
      ["mirror up", i.pull],
      ["mirror down", "skipped" in i.fallback ? undefined : i.fallback],
    ] as Array<[string, CheckedPull | undefined]>) {
      if (!p) continue;
      out.push("");
      out.push(`${label}: ${p.ok ? "pulled" : `failed: ${p.error ?? ""}`} in ${p.seconds} s`);
      if (p.log.length) {
        out.push("");
        out.push("```");
        out.push(...p.log);
        out.push("```");
      }
    }
    const rows = report.requests.filter((r) => r.image === i.image);
    if (rows.length) {
      out.push("");
      out.push("<details><summary>requests</summary>");
      out.push("");
      out.push("| phase | reached | host | request | status |");
      out.push("|---|---|---|---|---|");
      for (const r of rows)
        out.push(
          `| ${r.phase} | ${r.at} | ${md(r.host)} | ${r.method} ${md(r.path)}${r.ns ? `?ns=${md(r.ns)}` : ""} | ${r.status}${r.counted ? " (counted)" : ""} |`,
        );
      out.push("");
      out.push("</details>");
    }
  }
  const files = Object.entries(report.translation.files);
  out.push("");
  out.push("## The loopback copy the runtime was given");
  for (const n of report.translation.notes) out.push(`- ${n}`);
  for (const [name, text] of files) {
    out.push("");
    out.push(`\`${name}\`:`);
    out.push("");
    out.push("```toml");
    out.push(text.trimEnd());
    out.push("```");
  }
  return `${out.join("\n")}\n`;
}

/**
 * check-mirror.junit.xml: one testcase per image ("is pulled through a
 * mirror") and one per finding; images not pulled through a mirror and
 * critical findings fail, warnings and notes pass with their text as output.
 */
export function renderCheckJunit(report: CheckMirrorReport): string {
  const doc = create({ version: "1.0", encoding: "UTF-8", invalidCharReplacement: "\uFFFD" });
  const failingImages = report.images.filter((i) => i.pull.verdict !== "mirror");
  const failingFindings = report.findings.filter((f) => f.severity === "critical");
  const tests = report.images.length + report.findings.length;
  const failures = failingImages.length + failingFindings.length;
  const root = doc.ele("testsuites", {
    name: "pullstorm check-mirror",
    tests: String(tests),
    failures: String(failures),
    errors: "0",
  });
  const suite = root.ele("testsuite", {
    name: `check-mirror.${report.runtime}`,
    tests: String(tests),
    failures: String(failures),
    errors: "0",
    skipped: "0",
  });
  const props = suite.ele("properties");
  const prop = (n: string, v: string) => props.ele("property", { name: n, value: v });
  prop("runtime", report.runtime);
  prop("config", `${report.config.kind} ${report.config.path}`);
  prop("readByRuntime", String(report.config.readByRuntime));
  prop("driver", driverText(report));
  prop("mirror", mirrorText(report));
  prop("verdict", report.verdict);
  for (const i of report.images) {
    const tc = suite.ele("testcase", {
      classname: `check-mirror.${report.runtime}.images`,
      name: `${i.image} is pulled through a mirror`,
    });
    const evidence = [
      `configured: ${configuredText(i)}`,
      `mirror up: mirror ${tallyText(i.pull.mirror)}; registry ${tallyText(i.pull.upstream)}`,
      `mirror down: ${fallbackText(i.fallback)}`,
    ].join("\n");
    if (i.pull.verdict !== "mirror")
      tc.ele("failure", {
        message: `${i.image}: ${VERDICT_TEXT[i.pull.verdict]}`,
        type: "MirrorNotUsed",
      }).txt(`${evidence}${i.pull.error ? `\nerror: ${i.pull.error}` : ""}`);
    else tc.ele("system-out").txt(evidence);
  }
  for (const f of rankFindings(report.findings)) {
    const tc = suite.ele("testcase", {
      classname: `check-mirror.${report.runtime}.findings`,
      name: `${f.id}: ${f.title}`,
    });
    const text = `${f.detail}${f.fix ? `\n\nfix:\n${f.fix}` : ""}`;
    if (f.severity === "critical") tc.ele("failure", { message: f.title, type: f.id }).txt(text);
    else tc.ele("system-out").txt(`${f.severity}: ${text}`);
  }
  return doc.end({ prettyPrint: true });
}
