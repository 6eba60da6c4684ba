// `pullstorm run` as a child process: exit codes, files written, SIGINT.
// (The runner itself, in-process: test/runner.test.ts.)
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BAD_FILES, BASE } from "../helpers/bad-scenarios.ts";
import { fileIn, inTempDir } from "../helpers/files.ts";
import { type CommandResult, pullstorm, startPullstorm, waitFor } from "../helpers/processes.ts";
import { startRegistry } from "../helpers/registry.ts";

const MINI = join(import.meta.dirname, "..", "fixtures", "mini-churn.yaml");

/** mini-churn with one line changed, written into `dir`. */
function variant(dir: string, name: string, from: string, to: string): string {
  return fileIn(dir, name, readFileSync(MINI, "utf8").replace(from, to));
}

// Independent runs (each its own directory): together, in the time of the SIGINT one.
describe.concurrent("pullstorm run (CLI)", () => {
  it("on SIGINT writes what it collected, marked interrupted, and exits 130", () =>
    inTempDir("pullstorm-run-", async (out) => {
      // Against a registry of our own (--target), so the test sees when the run is under way:
      // a fixed 6 s after the start line was not enough on a busy machine (a second `npm test`
      // beside this one), where the run had not begun pulling and wrote 1 event.
      const target = await startRegistry();
      try {
        const proc = startPullstorm([
          "run",
          MINI,
          "--time-scale",
          "20",
          "--target",
          target.url,
          "--out",
          out,
        ]);
        // The churn (from 60 simulated seconds) has begun: the registry answered 30 requests.
        await waitFor(
          () => target.registry.stats.snapshot().total >= 30,
          40_000,
          () => proc.output(),
        );
        const code = await proc.stop("SIGINT");
        expect(code, proc.output()).toBe(130);
        const report = JSON.parse(readFileSync(join(out, "report.json"), "utf8"));
        expect(report.interrupted).toBe(true);
        expect(
          readFileSync(join(out, "events.jsonl"), "utf8").trim().split("\n").length,
        ).toBeGreaterThan(10);
      } finally {
        await target.close();
      }
    }));

  it("writes events.jsonl and report.json and exits 0 when expectations pass", () =>
    inTempDir("pullstorm-run-", async (out) => {
      const res = await pullstorm(["run", MINI, "--virtual", "--out", out]);
      expect(res.status, res.stderr).toBe(0);
      const report = JSON.parse(readFileSync(join(out, "report.json"), "utf8"));
      expect(report).toMatchObject({
        scenario: "mini-churn",
        mode: "virtual",
        seed: 1,
        interrupted: false,
      });
      expect(report.designs[0]).toHaveProperty("podStartSeconds.p95");
      const lines = readFileSync(join(out, "events.jsonl"), "utf8").trim().split("\n");
      expect(JSON.parse(lines[0] as string)).toHaveProperty("type");
      expect(res.stdout).toContain("anonymous-nat");
    }));

  it("exits 1 when an expectation fails and 2 on a bad scenario, naming file, line and field", () =>
    inTempDir("pullstorm-run-", async (dir) => {
      const failing = variant(
        dir,
        "failing.yaml",
        "{ design: anonymous-nat, verdict: breaks }",
        "{ design: anonymous-nat, verdict: holds }",
      );
      const bad = variant(dir, "bad.yaml", "egressIps: 10", "egressIps: lots");
      const unknownImage = variant(dir, "unknown.yaml", "pods: [web, cache]", "pods: [web, db]");
      const [res, res2, res3] = await Promise.all([
        pullstorm(["run", failing, "--virtual", "--out", join(dir, "out1")]),
        pullstorm(["run", bad, "--virtual", "--out", join(dir, "out2")]),
        pullstorm(["run", unknownImage, "--virtual"]),
      ]);
      expect(res.status).toBe(1);
      expect(res.stdout).toContain("FAIL  anonymous-nat: verdict == holds");
      expect(res2.status).toBe(2);
      expect(res2.stderr).toMatch(/bad\.yaml:\d+:\d+: designs\.1\.egressIps: /);
      expect(res3.status).toBe(2);
      expect(res3.stderr).toContain('fleet.pods.1: no image named "db"');
    }));

  it("`scenario validate` and `run` reject the same bad files, exit 2, with the same words, and write nothing", () =>
    inTempDir("pullstorm-typos-", async (dir) => {
      const cases = [{ name: "good", text: BASE, problem: "" }, ...BAD_FILES];
      const results: Array<{
        name: string;
        problem: string;
        out: string;
        validate: CommandResult;
        run: CommandResult;
      }> = [];
      // Two files (four processes) at a time: two cores, and each is a Node start-up.
      for (let i = 0; i < cases.length; i += 2) {
        const batch = cases.slice(i, i + 2);
        results.push(
          ...(await Promise.all(
            batch.map(async (c) => {
              mkdirSync(join(dir, c.name));
              const file = fileIn(join(dir, c.name), "x.yaml", c.text);
              const out = join(dir, c.name, "out");
              const [validate, run] = await Promise.all([
                pullstorm(["scenario", "validate", file]),
                // Not the good one: a real run is not what this test is about.
                c.problem
                  ? pullstorm(["run", file, "--virtual", "--out", out])
                  : Promise.resolve({ status: 0, stdout: "", stderr: "" } as CommandResult),
              ]);
              return { name: c.name, problem: c.problem, out, validate, run };
            }),
          )),
        );
      }
      for (const r of results) {
        if (!r.problem) {
          expect(r.validate.status, r.validate.stderr).toBe(0);
          continue;
        }
        expect(r.validate.status, `${r.name}: ${r.validate.stderr}`).toBe(2);
        expect(r.run.status, `${r.name}: ${r.run.stderr}`).toBe(2);
        expect(r.validate.stderr, r.name).toContain(r.problem);
        // The same check, the same words: run says exactly what validate says.
        expect(r.run.stderr, r.name).toBe(r.validate.stderr);
        expect(existsSync(r.out), `${r.name}: ${r.out} left behind`).toBe(false);
      }
    }));

  it("auto refuses a live run longer than --max-wall (exit 2, nothing written) and --max-wall without auto", () =>
    inTempDir("pullstorm-maxwall-", async (dir) => {
      // node-churn is two simulated hours: at most x120 by default, so at least a minute of wall time.
      const nodeChurn = join(import.meta.dirname, "..", "..", "scenarios", "node-churn.yaml");
      const out = join(dir, "out");
      const res = await pullstorm(["run", nodeChurn, "--max-wall", "5s", "--out", out]);
      expect(res.status, res.stderr).toBe(2);
      expect(res.stderr).toMatch(
        /--time-scale auto: this machine keeps up with node-churn only at x[\d.]+, so the live run would take [\d.]+[mhd] of wall time, more than --max-wall 5s allows; nothing was run\. Run it in simulated time \(--virtual\)/,
      );
      expect(res.stderr).not.toMatch(/\n\s+at /); // no stack
      expect(existsSync(out), `${out} left behind`).toBe(false);
      for (const args of [
        ["--virtual", "--max-wall", "1h"],
        ["--time-scale", "10", "--max-wall", "1h"],
      ]) {
        const r = await pullstorm(["run", MINI, ...args, "--out", out]);
        expect(r.status, r.stderr).toBe(2);
        expect(r.stderr).toMatch(/--max-wall bounds the scale --time-scale auto picks/);
        expect(existsSync(out)).toBe(false);
      }
      const bad = await pullstorm(["run", MINI, "--max-wall", "soon", "--out", out]);
      expect(bad.status).not.toBe(0);
      expect(bad.stderr).toMatch(/--max-wall "soon" is not a duration/);
    }));

  it("refuses a remote target before any connection (exit 2)", async () => {
    // What the guard decides is in test/runner.test.ts; here, that the CLI applies it.
    const res = await pullstorm(["run", MINI, "--target", "ftp://127.0.0.1:5000"]);
    expect(res.status).toBe(2);
  });
});
