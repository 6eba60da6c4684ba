import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, describe, expect, it } from "vitest";
import type { Analysis } from "../reports/analysis-types.ts";
import { escapeHtml, jsonForScript, renderHtml, writeHtmlReport } from "../reports/html.ts";
import { analysisSample } from "./fixtures/analysis-sample.ts";
import { checkTools } from "./helpers/tools.ts";

// In-page expressions are strings: the project's tsconfig has no DOM lib.
const CHARTS_READY = "document.body.dataset.chartsReady !== undefined";

const HOSTILE = `</script><img src=x onerror="window.__pwned=1">&"'<!--`;

/** The analysis with hostile strings wherever the report prints text. */
function hostileAnalysis(): Analysis {
  const a = analysisSample();
  const d = a.designs[0];
  if (!d) throw new Error("fixture has no design");
  const old = d.name;
  d.name = `nat ${HOSTILE}`;
  d.summary.name = d.name;
  for (const e of a.expectations) if (e.design === old) e.design = d.name;
  for (const f of a.findings) if (f.design === old) f.design = d.name;
  if (d.firstBreak) d.firstBreak.actor = `node ${HOSTILE}`;
  a.scenario.description = `description ${HOSTILE}`;
  a.findings.push({
    id: `${d.name}/quota-exhausted/hostile`,
    code: "quota-exhausted",
    design: d.name,
    severity: "critical",
    title: HOSTILE,
    cause: HOSTILE,
    evidence: [{ text: HOSTILE, events: [] }],
    consequence: HOSTILE,
    fix: { code: "add-mirror", text: HOSTILE },
    causedBy: [HOSTILE],
  });
  return a;
}

/** The JSON data block of a rendered page. */
function embedded(html: string): Analysis {
  const m = /<script type="application\/json" id="pullstorm-analysis">([\s\S]*?)<\/script>/.exec(
    html,
  );
  if (!m?.[1]) throw new Error("no data block");
  return JSON.parse(m[1]) as Analysis;
}

describe("renderHtml", () => {
  it("is one self-contained document: nothing to fetch, the analysis embedded as JSON", () => {
    const a = analysisSample();
    const html = renderHtml(a);
    expect(html.startsWith("<!doctype html>")).toBe(true);
    // No external anything: no src/href to a URL, no @import, no url(http...).
    expect(html.match(/\s(?:src|href)\s*=\s*(?!["']?(?:#|data:))[^\s>]{0,40}/gi) ?? []).toEqual([]);
    expect(html).not.toMatch(/@import|url\(\s*["']?https?:/i);
    // uPlot is inlined, and a CSP forbids anything else.
    expect(html).toContain("https://github.com/leeoniya/uPlot");
    expect(html).toMatch(
      /<meta http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;/,
    );
    expect(embedded(html)).toEqual(a);
    // Deterministic: a pure function of the analysis.
    expect(renderHtml(analysisSample())).toBe(html);
  });

  it("writes the game-day sections with the matrix, the cheapest design that holds and the expectations", () => {
    const a = analysisSample();
    const html = renderHtml(a);
    for (const heading of [
      "Scenario and hypothesis",
      "Steady state: the design matrix",
      "What happened, design by design",
      "Findings: diagnosis → fix",
      "Action items",
      "Expectations",
    ])
      expect(html).toContain(heading);
    expect(a.cheapestHolding).toBe("the-fix");
    expect(html).toMatch(/<tr class="cheapest">\s*<td><a href="#design-3">the-fix<\/a>/);
    expect(html.match(/data-chart="timeline"/g)).toHaveLength(a.designs.length);
    // The first break of the NAT design: time and layer in the matrix.
    expect(html).toMatch(/<td>26m\d\ds <span class="layer">registry-quota<\/span><\/td>/);
    const failed = a.expectations.filter((e) => !e.passed).length;
    expect(failed).toBeGreaterThan(0);
    expect(html.match(/badge fail/g)?.length).toBeGreaterThanOrEqual(failed);
    // Fault windows listed with an open end.
    expect(html).toContain("token-503");
    expect(html).toContain("49m – end of run");
  });

  it("escapes every string and keeps the JSON block closed", () => {
    const a = hostileAnalysis();
    const html = renderHtml(a);
    expect(html).not.toContain(HOSTILE);
    expect(html).not.toContain("<img");
    expect(html).toContain(escapeHtml(`nat ${HOSTILE}`));
    // Only the three real script elements close.
    expect(html.match(/<\/script>/gi)).toHaveLength(3);
    expect(embedded(html)).toEqual(a);
    expect(jsonForScript("</script><!--")).toBe('"\\u003c/script\\u003e\\u003c!--"');
  });

  it("writeHtmlReport writes dir/report.html", () => {
    const dir = mkdtempSync(join(tmpdir(), "pullstorm-html-write-"));
    const path = writeHtmlReport(analysisSample(), join(dir, "nested"));
    try {
      expect(path).toBe(join(dir, "nested", "report.html"));
      expect(readFileSync(path, "utf8")).toBe(renderHtml(analysisSample()));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("report.html in headless Chromium", () => {
  const tools = checkTools("chromium");
  let browser: Browser | undefined;

  // Kept after the run so a person can look at report.html and report.png.
  let outDir: string | undefined;
  const out = () => {
    outDir ??= mkdtempSync(join(tmpdir(), "pullstorm-report-html-"));
    return outDir;
  };

  async function launch(): Promise<Browser> {
    // chromium.launch gives every browser a fresh temporary profile (user-data dir).
    browser ??= await chromium.launch({
      executablePath: "/usr/bin/chromium",
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    return browser;
  }

  /** Opens a file with every console error, page error and non-local request recorded. */
  async function open(path: string, javaScriptEnabled = true) {
    const b = await launch();
    const context = await b.newContext({
      viewport: { width: 1280, height: 900 },
      deviceScaleFactor: 1,
      javaScriptEnabled,
    });
    const page = await context.newPage();
    const errors: string[] = [];
    const requests: string[] = [];
    const blocked: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(`console: ${m.text()}`);
    });
    page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
    page.on("request", (r) => requests.push(r.url()));
    await page.route("**/*", (route) => {
      const url = route.request().url();
      if (/^(file|data|blob):/.test(url)) return route.continue();
      blocked.push(url);
      return route.abort();
    });
    await page.goto(pathToFileURL(path).href, { waitUntil: "load" });
    return { page, errors, requests, blocked, close: () => context.close() };
  }

  const local = (url: string) => /^(file|data|blob):/.test(url);

  async function chartBoxes(page: Page, kind: string) {
    return page.$$eval(`.chart[data-chart="${kind}"]`, (els) =>
      els.map((el) => {
        const canvas = el.querySelector(".uplot canvas");
        const r = canvas?.getBoundingClientRect();
        return {
          design: el.getAttribute("data-design"),
          rendered: el.getAttribute("data-rendered"),
          faultBands: Number(el.getAttribute("data-fault-bands") ?? "0"),
          firstBreak: el.getAttribute("data-first-break") === "1",
          width: r?.width ?? 0,
          height: r?.height ?? 0,
          series: el.querySelectorAll(".u-legend .u-series").length,
        };
      }),
    );
  }

  afterAll(async () => {
    await browser?.close();
  });

  it("draws every chart from the inlined library, offline, without errors, and keeps a screenshot", async (ctx) => {
    if (!tools.available) return ctx.skip(tools.reason);
    const a = analysisSample();
    const path = writeHtmlReport(a, out());
    const { page, errors, requests, blocked, close } = await open(path);
    await page.waitForFunction(CHARTS_READY);

    const timelines = await chartBoxes(page, "timeline");
    expect(timelines.map((t) => t.design)).toEqual(a.designs.map((d) => d.name));
    for (const t of timelines) {
      expect(t.rendered).toBe("1");
      expect(t.width).toBeGreaterThan(600);
      expect(t.height).toBeGreaterThan(150);
      // Both fault windows drawn as bands; 6 series + x in the legend.
      expect(t.faultBands).toBe(a.faults.length);
      expect(t.series).toBe(7);
      expect(t.firstBreak).toBe(a.designs.find((d) => d.name === t.design)?.firstBreak != null);
    }
    const headroom = await chartBoxes(page, "headroom");
    expect(headroom).toHaveLength(a.designs.length);
    for (const h of headroom) {
      expect(h.rendered).toBe("1");
      expect(h.width).toBeGreaterThan(200);
      expect(h.height).toBeGreaterThan(100);
      // At most 10 identities (+ x), even for the 65 accounts of account-per-node.
      expect(h.series).toBeGreaterThanOrEqual(2);
      expect(h.series).toBeLessThanOrEqual(11);
    }
    expect(headroom.find((h) => h.design === "account-per-node")?.series).toBe(11);
    const cdfs = await chartBoxes(page, "cdf");
    expect(cdfs.every((c) => c.rendered === "1" && c.width > 200 && c.height > 100)).toBe(true);
    const overview = await chartBoxes(page, "cdf-all");
    expect(overview).toHaveLength(1);
    expect(overview[0]?.series).toBe(a.designs.length + 1);
    const canvases = await page.locator(".uplot canvas").count();
    expect(canvases).toBe(timelines.length + headroom.length + cdfs.length + overview.length);
    expect(await page.evaluate("document.body.dataset.chartsReady")).toBe(String(canvases));

    const png = join(out(), "report.png");
    await page.screenshot({ path: png, fullPage: true });
    await close();
    console.info(`report.html and its screenshot: ${out()}`);

    expect(errors).toEqual([]);
    expect(blocked).toEqual([]);
    expect(requests.filter((u) => !local(u))).toEqual([]);
    expect(existsSync(png)).toBe(true);
    expect(statSync(png).size).toBeGreaterThan(100_000);
  });

  it("reads without JavaScript: the tables carry the numbers", async (ctx) => {
    if (!tools.available) return ctx.skip(tools.reason);
    const path = writeHtmlReport(analysisSample(), join(out(), "nojs"));
    const { page, errors, blocked, close } = await open(path, false);
    expect(await page.locator(".uplot").count()).toBe(0);
    expect(await page.locator(".chart").first().isVisible()).toBe(false);
    expect(await page.locator("table.matrix tbody tr").count()).toBe(3);
    expect(await page.locator("text=JavaScript is off").isVisible()).toBe(true);
    await close();
    expect(errors).toEqual([]);
    expect(blocked).toEqual([]);
  });

  it("hostile names stay text: nothing runs, nothing is fetched", async (ctx) => {
    if (!tools.available) return ctx.skip(tools.reason);
    const a = hostileAnalysis();
    const path = writeHtmlReport(a, join(out(), "hostile"));
    const { page, errors, requests, blocked, close } = await open(path);
    await page.waitForFunction(CHARTS_READY);
    expect(await page.evaluate("window.__pwned")).toBeUndefined();
    expect(await page.locator("img").count()).toBe(0);
    expect(await page.locator("section.design h3").first().textContent()).toBe(a.designs[0]?.name);
    expect((await chartBoxes(page, "timeline"))[0]?.rendered).toBe("1");
    await close();
    expect(errors).toEqual([]);
    expect(blocked).toEqual([]);
    expect(requests.filter((u) => !local(u))).toEqual([]);
  });
});
