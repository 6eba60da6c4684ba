/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time by function
 * and by package or file, and inclusive time of the heaviest frames, so a
 * benchmark's "what limits it" can quote numbers instead of a flame graph.
 *
 *   node bench/lib/profile-summary.ts FILE.cpuprofile [--top N] [--from-ms MS]
 *
 * --from-ms skips the first MS of the profile (start-up, module loading).
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
  /** Self samples by source line (1-based), over the whole profile. */
  positionTicks?: Array<{ line: number; ticks: number }>;
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  totalMs: number;
  /** Share of samples by function (self time). */
  selfByFunction: Array<{ name: string; pct: number }>;
  /** Share of samples by package (node_modules/NAME), project file, or node internals. */
  selfByArea: Array<{ name: string; pct: number }>;
  /** Share of samples with the function anywhere on the stack. */
  inclusive: Array<{ name: string; pct: number }>;
  /** Share of samples by source line (whole profile: --from-ms does not apply). */
  lines: Array<{ name: string; pct: number }>;
}

function where(url: string): string {
  if (!url) return "(native/V8)";
  const nm = url.lastIndexOf("node_modules/");
  if (nm >= 0) {
    const rest = url.slice(nm + "node_modules/".length).split("/");
    return rest[0]?.startsWith("@") ? `${rest[0]}/${rest[1]}` : (rest[0] ?? url);
  }
  if (url.startsWith("node:")) return url;
  const i = url.indexOf("/main/");
  return i >= 0 ? url.slice(i + 6) : url.replace(/^file:\/\//, "");
}

function label(node: ProfileNode): string {
  const f = node.callFrame;
  const name = f.functionName || "(anonymous)";
  return f.url ? `${name} ${where(f.url)}:${f.lineNumber + 1}` : name;
}

export function summarise(profile: Profile, top = 25, fromMs = 0): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const area = new Map<string, number>();
  const incl = new Map<string, number>();
  let total = 0;
  let at = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    if (at < fromMs * 1000) continue;
    const node = byId.get(profile.samples[i] as number);
    if (!node) continue;
    const name = node.callFrame.functionName;
    if (name === "(idle)" || name === "(program)") continue;
    total++;
    const l = label(node);
    self.set(l, (self.get(l) ?? 0) + 1);
    const a = node.callFrame.url ? where(node.callFrame.url) : node.callFrame.functionName;
    area.set(a, (area.get(a) ?? 0) + 1);
    const seen = new Set<string>();
    for (let cur: number | undefined = node.id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur);
      if (!n) break;
      const nl = label(n);
      if (seen.has(nl)) continue;
      seen.add(nl);
      incl.set(nl, (incl.get(nl) ?? 0) + 1);
    }
  }
  const rank = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, n]) => ({ name, pct: Math.round((n / Math.max(1, total)) * 1000) / 10 }));
  const lineTicks = new Map<string, number>();
  let allTicks = 0;
  for (const n of profile.nodes) {
    for (const t of n.positionTicks ?? []) {
      allTicks += t.ticks;
      if (!n.callFrame.url) continue;
      const l = `${where(n.callFrame.url)}:${t.line} ${n.callFrame.functionName || "(anonymous)"}`;
      lineTicks.set(l, (lineTicks.get(l) ?? 0) + t.ticks);
    }
  }
  const lines = [...lineTicks]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, n]) => ({ name, pct: Math.round((n / Math.max(1, allTicks)) * 1000) / 10 }));
  return {
    lines,
    totalMs: Math.round((profile.endTime - profile.startTime) / 1000),
    selfByFunction: rank(self),
    selfByArea: rank(area),
    inclusive: rank(incl),
  };
}

export function summariseFile(file: string, top = 25, fromMs = 0): ProfileSummary {
  return summarise(JSON.parse(readFileSync(file, "utf8")) as Profile, top, fromMs);
}

if (import.meta.main) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write("usage: node bench/lib/profile-summary.ts FILE.cpuprofile [--top N]\n");
    process.exit(2);
  }
  const topAt = process.argv.indexOf("--top");
  const fromAt = process.argv.indexOf("--from-ms");
  const s = summariseFile(
    file,
    topAt > 0 ? Number(process.argv[topAt + 1]) : 25,
    fromAt > 0 ? Number(process.argv[fromAt + 1]) : 0,
  );
  const show = (title: string, rows: Array<{ name: string; pct: number }>) => {
    process.stdout.write(`\n${title}\n`);
    for (const r of rows) process.stdout.write(`${r.pct.toFixed(1).padStart(6)}%  ${r.name}\n`);
  };
  process.stdout.write(`profile ${file}: ${s.totalMs} ms\n`);
  show("self time by area", s.selfByArea);
  show("self time by function", s.selfByFunction);
  show("inclusive (on stack)", s.inclusive);
  show("self time by line (whole profile)", s.lines);
}
