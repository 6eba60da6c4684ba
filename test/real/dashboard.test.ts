// The live game-day console in real headless Chromium, during a live run of
// scenarios/node-churn.yaml (issue 16): the page names the scenario, loads
// nothing from the network, its numbers move as the run goes on; a fault
// injected from the page reaches the registries (requests refused by the
// fault layer), and it and a note land in events.jsonl and in the final
// report's timeline; when the run ends the page says so and links the reports.
import { existsSync, readFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";
import { afterAll, describe, expect, it } from "vitest";
import type { RunReport } from "../../reports/analysis-types.ts";
import { inTempDir } from "../helpers/files.ts";
import { pullstorm, startPullstorm, waitFor } from "../helpers/processes.ts";
import { checkTools } from "../helpers/tools.ts";

const NODE_CHURN = join(import.meta.dirname, "..", "..", "scenarios", "node-churn.yaml");

/** The value of one runner metric series on /metrics, or 0. */
async function metric(url: string, series: string): Promise<number> {
  const text = await (await fetch(`${url}metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line ? Number(line.split(" ")[1]) : 0;
}

describe("the live console (pullstorm run --dashboard) in headless Chromium", () => {
  const tools = checkTools("chromium");
  let browser: Browser | undefined;
  afterAll(async () => {
    await browser?.close();
  });

  it("shows the run as it goes, offline; a fault injected from the page reaches the registry, events.jsonl and the report's timeline", async (ctx) => {
    if (!tools.available) return ctx.skip(tools.reason);
    await inTempDir("pullstorm-dashboard-", async (out) => {
      // Two designs at x30: the churn (from 880 simulated seconds) starts 29 wall seconds in.
      let ended = false;
      const proc = startPullstorm([
        "run",
        NODE_CHURN,
        "--design",
        "anonymous-one-nat",
        "--design",
        "account-per-node",
        "--time-scale",
        "30",
        "--dashboard",
        "127.0.0.1:0",
        "--dashboard-linger",
        "60s",
        "--out",
        out,
      ]);
      try {
        await waitFor(
          () => /live console at http:\/\/127\.0\.0\.1:\d+\/#token=\S+/.test(proc.output()),
          30_000,
          () => proc.output(),
        );
        const address = /live console at (http:\/\/127\.0\.0\.1:\d+\/)#token=(\S+)/.exec(
          proc.output(),
        ) as RegExpExecArray;
        const [, url, token] = address as unknown as [string, string, string];
        // The start line counts the designs that run, not the scenario's four.
        expect(proc.output()).toMatch(/, 2 design\(s\) -> /);

        browser = await chromium.launch({
          executablePath: "/usr/bin/chromium",
          args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
        });
        const page = await (
          await browser.newContext({ viewport: { width: 1600, height: 1000 } })
        ).newPage();
        const errors: string[] = [];
        const offsite: string[] = [];
        page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
        page.on("console", (m) => {
          if (m.type() === "error") errors.push(`console: ${m.text()}`);
        });
        // Anything but the console's own origin is recorded and refused: the page must need none.
        await page.route("**/*", (route) => {
          const requested = route.request().url();
          if (requested.startsWith(url) || /^(data|blob):/.test(requested)) return route.continue();
          offsite.push(requested);
          return route.abort();
        });
        await page.goto(`${url}#token=${token}`, { waitUntil: "load" });
        await page.locator("#scenario", { hasText: /^node-churn$/ }).waitFor({ timeout: 30_000 });
        // The token left the address bar; the controls are enabled.
        expect(page.url()).not.toContain(token);
        expect(await page.textContent("#token-state")).toMatch(/Controls enabled/);

        // The numbers move: a design's simulated time grows while the page stays open.
        const simTime = () =>
          page.$eval('[data-design="account-per-node"]', (el) => Number(el.getAttribute("data-t")));
        await page.waitForSelector('[data-design="account-per-node"]', { timeout: 60_000 });
        const first = await simTime();
        await waitFor(
          async () => (await simTime()) > first + 30,
          20_000,
          () => proc.output(),
        );

        // The live clock's lag, measured as it runs (the last second's).
        await page
          .locator('[data-design="account-per-node"] dd', {
            hasText: /[\d.]+ s timers.*last second/,
          })
          .waitFor({ timeout: 30_000 });

        // Into the churn, then a 5xx burst from the page.
        await waitFor(
          async () => (await simTime()) > 900,
          60_000,
          () => proc.output(),
        );
        await page.selectOption("#fault", "error-burst");
        await page.click("#inject");
        await page
          .locator("#control-result", { hasText: /api\/faults: 201/ })
          .waitFor({ timeout: 30_000 });
        // The registries answer with the fault: the runner's /metrics counts it (bounded wait).
        await waitFor(
          async () =>
            (await metric(
              url,
              'pullstorm_runner_requests_total{design="account-per-node",layer="fault"}',
            )) > 0,
          60_000,
          () => proc.output(),
        );
        await page.fill("#note", "on-call paged: 503s from the registry");
        await page.click("#mark");
        await page
          .locator("#control-result", { hasText: /api\/mark: 201/ })
          .waitFor({ timeout: 30_000 });
        await page
          .locator("#log li", { hasText: "on-call paged" })
          .first()
          .waitFor({ timeout: 30_000 });

        // Pause: every design's simulated time stands still until resumed.
        await page.click("#pause");
        await page
          .locator("#control-result", { hasText: /api\/pause: 200/ })
          .waitFor({ timeout: 30_000 });
        await page.locator('[data-design="account-per-node"] dd', { hasText: "(paused)" }).waitFor({
          timeout: 30_000,
        });
        const paused = await simTime();
        await new Promise((r) => setTimeout(r, 2500));
        expect(await simTime()).toBe(paused);
        await page.click("#resume");
        await waitFor(
          async () => (await simTime()) > paused + 10,
          20_000,
          () => proc.output(),
        );

        // Swap the policy preset from the page: every registry takes it.
        await page.selectOption("#preset", "unlimited");
        await page.click("#swap");
        await page
          .locator("#control-result", { hasText: /api\/policy: 200/ })
          .waitFor({ timeout: 30_000 });

        // Stop the run: the page says it ended and links the reports the runner serves.
        proc.child.kill("SIGINT");
        await page.waitForSelector("#ended:not([hidden])", { timeout: 60_000 });
        expect(await page.isDisabled("#inject")).toBe(true);
        expect(await page.textContent("#ended")).toMatch(/The run has ended/);
        const href = await page.getAttribute('#ended a[href$="report.html"]', "href");
        expect(href).toBe("/reports/report.html");
        const served = await page.request.get(`${url}reports/report.html`);
        expect(served.status()).toBe(200);
        expect(await served.text()).toContain("Game-day marks");
        // ... and on the report's timeline chart of each design, as lines where they happened.
        await page.goto(`${url}reports/report.html`, { waitUntil: "load" });
        const drawn = await page.getAttribute(
          '.chart[data-chart="timeline"][data-design="account-per-node"]',
          "data-marks",
        );
        expect(Number(drawn)).toBeGreaterThanOrEqual(2);

        expect(offsite, "requests off the console's origin").toEqual([]);
        expect(errors).toEqual([]);
        ended = true;
      } finally {
        // After the run's end the console lingers; this second SIGINT leaves it (130). When a
        // step above failed, its error is the one reported: the run is stopped all the same.
        const code = await proc.stop("SIGINT");
        if (ended) expect(code, proc.output()).toBe(130);
      }

      // What the page did is in the run's record.
      const events = readFileSync(join(out, "events.jsonl"), "utf8")
        .trim()
        .split("\n")
        .map(
          (l) =>
            JSON.parse(l) as {
              type: string;
              action?: string;
              text?: string;
              refusal?: string;
              t: number;
              design: string;
            },
        );
      const marks = events.filter((e) => e.type === "mark");
      const fault = marks.find((e) => e.action === "fault" && e.design === "account-per-node");
      expect(fault?.text).toMatch(/^error-burst status=503/);
      expect(marks.some((e) => e.action === "note" && e.text?.includes("on-call paged"))).toBe(
        true,
      );
      const refused = events.filter((e) => e.type === "request" && e.refusal === "fault");
      expect(refused.length).toBeGreaterThan(0);
      // Refused by the fault only after it was injected.
      for (const e of refused.filter((x) => x.design === "account-per-node"))
        expect(e.t).toBeGreaterThanOrEqual((fault?.t ?? 0) - 1);
      expect(existsSync(join(out, "report.json"))).toBe(true);
      const report = JSON.parse(readFileSync(join(out, "report.json"), "utf8")) as RunReport;
      expect(report.marks?.some((m) => m.action === "fault")).toBe(true);
      const md = readFileSync(join(out, "report.md"), "utf8");
      expect(md).toMatch(/## Game-day marks[\s\S]*fault injected[\s\S]*error-burst status=503/);
      expect(md).toContain("on-call paged: 503s from the registry");
      for (const what of ["clock paused", "clock resumed", "policy swapped"])
        expect(md, what).toContain(`| ${what} |`);
      // Paused and resumed at one simulated moment: no simulated time passed while paused.
      const pause = marks.find((e) => e.action === "pause" && e.design === "account-per-node");
      const resume = marks.find((e) => e.action === "resume" && e.design === "account-per-node");
      expect((resume?.t ?? 0) - (pause?.t ?? 0)).toBeLessThan(0.5);
    });
  }, 300_000);
});

describe("the live console of a registry alone (pullstorm registry serve --dashboard)", () => {
  it("shows what the registry answers; its controls, with the token, reach the registry's control API; both listeners stop on SIGTERM", async () => {
    const proc = startPullstorm([
      "registry",
      "serve",
      "--port",
      "0",
      "--time-scale",
      "60",
      "--log-level",
      "warn",
      "--dashboard",
      "127.0.0.1:0",
    ]);
    try {
      await waitFor(
        () => /live console at \S+#token=\S+/.test(proc.output()),
        20_000,
        () => proc.output(),
      );
      const registry = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(
        proc.output(),
      )?.[1] as string;
      const [, url, token] = /live console at (\S+)#token=(\S+)/.exec(proc.output()) as unknown as [
        string,
        string,
        string,
      ];
      const snapshot = async () => {
        const response = await fetch(`${url}stream`);
        const reader = response.body?.getReader();
        let text = "";
        while (!text.includes("\n\n")) {
          const chunk = await reader?.read();
          if (!chunk || chunk.done) break;
          text += Buffer.from(chunk.value).toString();
        }
        await reader?.cancel();
        return JSON.parse(/data: (.*)\n/.exec(text)?.[1] ?? "{}") as {
          registry: { t: number; totals: Record<string, number> };
          marks: Array<{ action: string; text: string }>;
          identities: Array<{ identity: string; refusedBy: string | null }>;
        };
      };
      for (let i = 0; i < 3; i++) expect((await fetch(`${registry}/v2/`)).status).toBe(401);
      const before = await snapshot();
      expect(before.registry.totals.ok).toBe(3);

      const auth = { authorization: `Bearer ${token}`, "content-type": "application/json" };
      // Without the token the console refuses, and so does the registry's control API.
      expect(
        (
          await fetch(`${url}api/faults`, {
            method: "POST",
            body: '{"fault":"outage"}',
            headers: { "content-type": "application/json" },
          })
        ).status,
      ).toBe(403);
      expect((await fetch(`${registry}/_pullstorm/faults`)).status).toBe(403);
      const injected = await fetch(`${url}api/faults`, {
        method: "POST",
        headers: auth,
        body: JSON.stringify({ fault: "outage" }),
      });
      expect(injected.status).toBe(201);
      expect((await fetch(`${registry}/v2/`)).status).toBe(503);
      // A scaled registry's clock stands still while paused.
      expect(
        (
          await fetch(`${url}api/pause`, {
            method: "POST",
            headers: { authorization: auth.authorization },
          })
        ).status,
      ).toBe(200);
      const paused = (await snapshot()).registry.t;
      await new Promise((r) => setTimeout(r, 1500));
      expect((await snapshot()).registry.t).toBe(paused);
      await fetch(`${url}api/resume`, {
        method: "POST",
        headers: { authorization: auth.authorization },
      });
      expect(
        (
          await fetch(`${url}api/faults`, {
            method: "DELETE",
            headers: { authorization: auth.authorization },
          })
        ).status,
      ).toBe(200);
      expect((await fetch(`${registry}/v2/`)).status).toBe(401);

      const after = await snapshot();
      expect(after.registry.totals.fault).toBe(1);
      expect(after.registry.totals.ok).toBe(4);
      expect(after.registry.t).toBeGreaterThan(paused);
      expect(after.identities.find((i) => i.identity === "127.0.0.1")?.refusedBy).toBe("fault");
      expect(after.marks.map((m) => m.action)).toEqual([
        "fault",
        "pause",
        "resume",
        "fault-cleared",
      ]);
      expect(await proc.stop("SIGTERM"), proc.output()).toBe(0);
      // Both listeners are gone with the process.
      await expect(fetch(url)).rejects.toThrow();
      await expect(fetch(`${registry}/v2/`)).rejects.toThrow();
    } finally {
      await proc.stop("SIGKILL");
    }
  }, 60_000);
});

describe("--dashboard, refused before anything is written", () => {
  const MINI = join(import.meta.dirname, "..", "fixtures", "mini-churn.yaml");
  it("with --virtual, on a port in use, or with a bad address or token: exit 2, saying why, no directory left", () =>
    inTempDir("pullstorm-console-bad-", async (dir) => {
      const taken = createServer();
      await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
      const port = (taken.address() as AddressInfo).port;
      try {
        const cases: Array<[string[], RegExp]> = [
          [["--virtual", "--dashboard", "0"], /--dashboard watches a live run/],
          [["--dashboard", `127.0.0.1:${port}`], /--dashboard 127\.0\.0\.1:\d+: address in use/],
          [["--dashboard", "127.0.0.1:99999"], /expected \[HOST:\]PORT/],
          [["--dashboard", "0", "--control-token", "short"], /--control-token must be 16 to 200/],
          [["--control-token", "a-long-enough-token"], /--control-token is the console's/],
        ];
        for (const [flags, message] of cases) {
          const out = join(dir, "out");
          const res = await pullstorm(["run", MINI, "--time-scale", "30", ...flags, "--out", out]);
          expect(res.status, `${flags.join(" ")}\n${res.stderr}`).toBe(2);
          expect(res.stderr).toMatch(message);
          expect(existsSync(out), flags.join(" ")).toBe(false);
        }
      } finally {
        await new Promise((r) => taken.close(r));
      }
    }));
});
