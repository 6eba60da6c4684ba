/**
 * The console's one page: self-contained (uPlot, the page's script and
 * styles inlined; a Content-Security-Policy with hashes of exactly those
 * blocks, connections to this server only), so it works offline and on a
 * projector with no network but the one to the runner.
 */
import { readFileSync } from "node:fs";
import { PRESETS } from "../fake-registry/policy/presets.ts";
import { inlineScript, inlineStyle, jsonForScript, sha256, uplotAssets } from "../reports/html.ts";
import { RATE_LAYERS } from "./view.ts";

let cached: { html: string; csp: string } | undefined;

export function dashboardPage(): { html: string; csp: string } {
  if (cached) return cached;
  const uplot = uplotAssets();
  const own = (file: string) => readFileSync(new URL(`./page/${file}`, import.meta.url), "utf8");
  const js = inlineScript(own("console.js"));
  const css = inlineStyle(own("console.css"));
  const csp = [
    "default-src 'none'",
    `script-src ${sha256(uplot.js)} ${sha256(js)}`,
    `style-src ${sha256(uplot.css)} ${sha256(css)}`,
    "img-src data: blob:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
  const config = { presets: Object.keys(PRESETS), layers: RATE_LAYERS };
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="pullstorm">
<title>pullstorm live console</title>
<link rel="icon" href="data:,">
<style>${uplot.css}</style>
<style>${css}</style>
</head>
<body>
<header>
  <h1><span id="scenario">connecting…</span> <small id="mode"></small></h1>
  <p id="description"></p>
  <p id="status" role="status" aria-live="polite">Waiting for the run's first snapshot.</p>
</header>
<div id="ended" hidden></div>
<section id="controls" aria-label="Facilitator controls">
  <h2>Facilitator</h2>
  <p id="token-state"></p>
  <div class="row">
    <label>Fault <select id="fault">
      <option value="latency">latency 2 s ± 0.5 s</option>
      <option value="error-burst">5xx burst (503)</option>
      <option value="outage">outage (load balancer 503)</option>
      <option value="token-outage">token service down (503)</option>
    </select></label>
    <button id="inject" type="button">Inject</button>
    <button id="clear" type="button">Clear injected faults</button>
  </div>
  <div class="row">
    <label>Policy preset <select id="preset"></select></label>
    <button id="swap" type="button">Swap</button>
  </div>
  <div class="row">
    <button id="pause" type="button">Pause clock</button>
    <button id="resume" type="button">Resume clock</button>
  </div>
  <div class="row">
    <label class="grow">Note <input id="note" maxlength="500" placeholder="what just happened"></label>
    <button id="mark" type="button">Mark</button>
  </div>
  <p id="control-result" role="status" aria-live="polite"></p>
</section>
<section aria-label="Designs"><h2>Designs</h2><div id="designs" class="grid"></div></section>
<section aria-label="Identities"><h2>Quota headroom by identity</h2>
<table id="identities"><thead><tr><th>Design</th><th>Identity</th><th>Remaining</th><th>Limit / window</th><th>Refused</th><th>Refused by</th></tr></thead><tbody></tbody></table>
</section>
<section aria-label="Findings and marks"><h2>Findings and marks, as they happen</h2><ol id="log"></ol></section>
<footer>pullstorm live console. Charts by uPlot ${uplot.version} (MIT), inlined: this page loads nothing from the network.</footer>
<script type="application/json" id="config">${jsonForScript(config)}</script>
<script>${uplot.js}</script>
<script>${js}</script>
</body>
</html>
`;
  cached = { html, csp };
  return cached;
}
