// `pullstorm run` writes every report; `pullstorm report DIR` rebuilds them from the events alone.
import { mkdtempSync, readFileSync, rmSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { XMLValidator } from "fast-xml-parser";
import { describe, expect, it } from "vitest";
import { runCommand } from "./helpers/processes.ts";

const BIN = join(import.meta.dirname, "..", "bin", "pullstorm.js");
const MINI = join(import.meta.dirname, "fixtures", "mini-churn.yaml");

describe("report files", () => {
  it("are written by run and re-rendered identically by report", async () => {
    const out = mkdtempSync(join(tmpdir(), "pullstorm-report-"));
    try {
      const run = await runCommand(process.execPath, [BIN, "run", MINI, "--virtual", "--out", out]);
      expect(run.status, run.stderr).toBe(0);
      const files = [
        "report.json",
        "report.md",
        "report.html",
        "junit.xml",
        "events.jsonl",
        "scenario.yaml",
      ];
      const before = Object.fromEntries(files.map((f) => [f, readFileSync(join(out, f), "utf8")]));
      expect(XMLValidator.validate(before["junit.xml"] as string)).toBe(true);
      expect(before["report.md"]).toContain("anonymous-nat");
      for (const f of ["report.md", "report.html", "junit.xml"]) unlinkSync(join(out, f));
      const again = await runCommand(process.execPath, [
        BIN,
        "report",
        out,
        "--format",
        "md,html,junit,json",
      ]);
      expect(again.status, again.stderr).toBe(0);
      for (const f of ["report.json", "report.md", "report.html", "junit.xml"]) {
        expect(readFileSync(join(out, f), "utf8"), f).toBe(before[f]);
      }
      const terminal = await runCommand(process.execPath, [BIN, "report", out]);
      expect(terminal.stdout).toContain("anonymous-nat");
      const bad = await runCommand(process.execPath, [
        BIN,
        "report",
        join(tmpdir(), "nope-pullstorm"),
      ]);
      expect(bad.status).toBe(2);
      expect(bad.stderr).toContain("no scenario.yaml");
      const badFormat = await runCommand(process.execPath, [BIN, "report", out, "--format", "pdf"]);
      expect(badFormat.status).toBe(2);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
