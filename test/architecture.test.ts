import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

/**
 * The rooms of docs/architecture.md and what each may import, checked against
 * the code: every relative import of the project's own sources (tests and
 * fixtures aside) goes to its own room or to a room below it, and no files
 * import each other in a circle.
 */
const root = join(import.meta.dirname, "..");

/** Bottom to top. A room may import its own files and the rooms it names. */
const ROOMS: Array<{ room: string; holds: string[]; may: string[] }> = [
  { room: "vocabulary", holds: ["vocabulary/"], may: [] },
  { room: "fake-registry", holds: ["fake-registry/"], may: ["vocabulary"] },
  { room: "simulator", holds: ["simulator/"], may: ["fake-registry", "vocabulary"] },
  { room: "reports", holds: ["reports/"], may: ["simulator", "fake-registry", "vocabulary"] },
  {
    room: "check-mirror",
    holds: ["check-mirror/"],
    may: ["simulator", "fake-registry", "vocabulary"],
  },
  {
    room: "harness",
    holds: ["harness/"],
    may: ["reports", "simulator", "fake-registry", "vocabulary"],
  },
  {
    room: "dashboard",
    holds: ["dashboard/"],
    may: ["reports", "simulator", "fake-registry", "vocabulary"],
  },
  {
    room: "front",
    holds: ["cli/", "index.ts", "bench/"],
    may: [
      "harness",
      "dashboard",
      "check-mirror",
      "reports",
      "simulator",
      "fake-registry",
      "vocabulary",
    ],
  },
  { room: "bin", holds: ["bin/"], may: ["front"] },
];

function roomOf(file: string): string | undefined {
  return ROOMS.find((r) => r.holds.some((h) => (h.endsWith("/") ? file.startsWith(h) : file === h)))
    ?.room;
}

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, dir))) {
    const path = dir ? `${dir}/${name}` : name;
    // dist/: the package build, rewritten by test/real/package.test.ts's `npm pack` meanwhile.
    if (["node_modules", "test", "docs", ".git", "tools", "dist"].includes(name) && !dir) continue;
    if (statSync(join(root, path)).isDirectory()) out.push(...sources(path));
    else if (/\.(ts|js)$/.test(name) && roomOf(path)) out.push(path);
  }
  return out;
}

/** Every relative module a file imports (static, dynamic and type-only, re-exports too). */
function importsOf(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(join(root, file), "utf8"), true, true);
  return info.importedFiles
    .map((f) => f.fileName)
    .filter((name) => name.startsWith("."))
    .map((name) => relative(root, resolve(root, dirname(file), name)));
}

const files = sources("");
const graph = new Map(files.map((f) => [f, importsOf(f)]));

describe("architecture (docs/architecture.md)", () => {
  it("reads the whole project", () => {
    for (const room of ROOMS) expect(files.some((f) => roomOf(f) === room.room)).toBe(true);
    expect(files.length).toBeGreaterThan(100);
  });

  it("every import goes to the same room or one below it", () => {
    const wrong: string[] = [];
    for (const [file, imports] of graph) {
      const from = ROOMS.find((r) => r.room === roomOf(file));
      for (const target of imports) {
        const to = roomOf(target);
        if (to === undefined) wrong.push(`${file} -> ${target} (outside every room)`);
        else if (to !== from?.room && !from?.may.includes(to))
          wrong.push(`${file} -> ${target} (${from?.room} may not import ${to})`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it("no files import each other in a circle", () => {
    const circles: string[] = [];
    const state = new Map<string, "open" | "done">();
    const path: string[] = [];
    const visit = (file: string) => {
      state.set(file, "open");
      path.push(file);
      for (const next of graph.get(file) ?? []) {
        if (!graph.has(next)) continue;
        if (state.get(next) === "open")
          circles.push([...path.slice(path.indexOf(next)), next].join(" -> "));
        else if (!state.has(next)) visit(next);
      }
      path.pop();
      state.set(file, "done");
    };
    for (const file of files) if (!state.has(file)) visit(file);
    expect(circles).toEqual([]);
  });

  it("the engines never import the reports: they emit events, the reports fold them", () => {
    const upward = [...graph].filter(
      ([file, imports]) =>
        file.startsWith("simulator/") && imports.some((i) => i.startsWith("reports/")),
    );
    expect(upward).toEqual([]);
  });
});
