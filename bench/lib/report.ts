// Results as JSON under bench/results/ and as a plain table on stdout.
import { existsSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { runCommand } from "../../simulator/util/processes.ts";
import { ROOT, resultsFile } from "./servers.ts";

/** A plain-text table, columns padded; numbers right-aligned. */
export function table(header: string[], rows: Array<Array<string | number>>): string {
  const cells = [header, ...rows.map((r) => r.map((c) => String(c)))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const line = (r: string[], numeric: boolean[]) =>
    r
      .map((c, i) => (numeric[i] ? c.padStart(widths[i] as number) : c.padEnd(widths[i] as number)))
      .join("  ")
      .trimEnd();
  const numeric = header.map((_, i) => rows.every((r) => typeof r[i] === "number"));
  return [
    line(header, numeric),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...cells.slice(1).map((r) => line(r, numeric)),
  ].join("\n");
}

/** Writes bench/results/NAME.json and returns its path relative to the repository. */
export function writeResult(name: string, data: unknown): string {
  const file = resultsFile(name);
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  return relative(ROOT, file);
}

/**
 * writeResult, then formatted as Biome formats JSON, so `npm test` (which
 * checks every file) passes with fresh results.
 */
export async function writeFormattedResult(name: string, data: unknown): Promise<string> {
  const file = writeResult(name, data);
  const biome = join(ROOT, "node_modules/.bin/biome");
  if (existsSync(biome))
    await runCommand(biome, ["format", "--write", file], { cwd: ROOT, timeoutMs: 60_000 }).catch(
      () => undefined,
    );
  return file;
}

export function verdict(pass: boolean): string {
  return pass ? "PASS" : "MISS";
}

/** The best of several runs of one point: the highest rate (noise on a shared machine only ever lowers it). */
export function best<T>(runs: T[], score: (run: T) => number): T {
  let top = runs[0] as T;
  for (const r of runs) if (score(r) > score(top)) top = r;
  return top;
}

export function fmt(n: number, digits = 0): string {
  return n.toLocaleString("en-US", {
    maximumFractionDigits: digits,
    minimumFractionDigits: digits,
  });
}
