// The live console's page: renders each snapshot the runner pushes (/stream),
// and sends the facilitator's controls with the run's token (from the URL's
// #token=..., kept for this tab only and taken out of the address bar).
(() => {
  const config = JSON.parse(document.getElementById("config").textContent);
  const COLORS = {
    ok: "#009E73",
    quota: "#D55E00",
    "token-quota": "#CC79A7",
    abuse: "#E69F00",
    edge: "#56B4E9",
    fault: "#0072B2",
    other: "#777777",
  };
  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else node.setAttribute(k, v);
    }
    for (const c of children)
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  };
  const fmtTime = (s) => {
    const t = Math.max(0, Math.round(s));
    const h = Math.floor(t / 3600);
    const m = Math.floor((t % 3600) / 60);
    const sec = t % 60;
    return h > 0
      ? `${h}h${String(m).padStart(2, "0")}m`
      : m > 0
        ? `${m}m${String(sec).padStart(2, "0")}s`
        : `${sec}s`;
  };
  const pct = (x) => (x === null || x === undefined ? "-" : `${Math.round(x * 1000) / 10}%`);

  // The token: from the fragment once, then this tab's session storage.
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get("token")) {
    sessionStorage.setItem("pullstorm-token", hash.get("token"));
    history.replaceState(null, "", location.pathname + location.search);
  }
  const token = sessionStorage.getItem("pullstorm-token");
  $("token-state").textContent = token
    ? "Controls enabled (this tab holds the run's control token)."
    : "Watching only: open the URL the runner printed (with #token=…) to use the controls.";
  for (const name of config.presets) $("preset").append(el("option", { value: name }, name));
  const buttons = ["inject", "clear", "swap", "pause", "resume", "mark"].map($);
  const setEnabled = (on) => {
    for (const b of buttons) b.disabled = !on || !token;
  };
  setEnabled(true);

  async function control(method, path, body) {
    $("control-result").textContent = "…";
    try {
      const response = await fetch(path, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body ? { "content-type": "application/json" } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      const text = await response.text();
      $("control-result").textContent =
        `${method} ${path}: ${response.status} ${response.ok ? "done" : text.slice(0, 300)}`;
    } catch (error) {
      $("control-result").textContent = `${method} ${path}: ${error}`;
    }
  }
  $("inject").onclick = () => control("POST", "/api/faults", { fault: $("fault").value });
  $("clear").onclick = () => control("DELETE", "/api/faults");
  $("swap").onclick = () => control("PUT", "/api/policy", { preset: $("preset").value });
  $("pause").onclick = () => control("POST", "/api/pause");
  $("resume").onclick = () => control("POST", "/api/resume");
  $("mark").onclick = () => {
    const note = $("note").value.trim();
    if (note) control("POST", "/api/mark", { note }).then(() => ($("note").value = ""));
  };

  const charts = new Map();
  function chartFor(card, d) {
    let chart = charts.get(d.name);
    const data = [d.rates.t, ...config.layers.map((l) => d.rates[l])];
    if (!chart) {
      const holder = el("div", {
        class: "chart",
        "aria-label": `requests per simulated second by layer, ${d.name}`,
      });
      card.append(holder);
      chart = new uPlot(
        {
          width: Math.max(300, card.clientWidth - 24),
          height: 200,
          scales: { x: { time: false } },
          axes: [
            { label: "simulated time", values: (_u, v) => v.map(fmtTime) },
            { label: "requests / s" },
          ],
          series: [
            {},
            ...config.layers.map((l) => ({
              label: l,
              stroke: COLORS[l],
              width: l === "ok" ? 2 : 3,
              dash: l === "other" ? [6, 4] : undefined,
            })),
          ],
        },
        data,
        holder,
      );
      charts.set(d.name, { chart, holder });
      return;
    }
    if (!card.contains(chart.holder)) card.append(chart.holder);
    chart.chart.setData(data);
  }

  function designCard(d) {
    const card = el(
      "article",
      { class: "card", "data-design": d.name, "data-t": d.t, "data-verdict": d.verdict },
      el(
        "h3",
        {},
        el("span", {}, d.name),
        el(
          "span",
          { class: `verdict ${d.verdict}` },
          d.verdict === "holds" ? "✓ holds" : d.verdict === "breaks" ? "✗ breaks" : "… incomplete",
        ),
      ),
    );
    if (d.firstBreak)
      card.append(
        el(
          "p",
          { class: "break" },
          `First break at ${fmtTime(d.firstBreak.t)}: ${d.firstBreak.reason} (${d.firstBreak.layer}), ${d.firstBreak.image} on ${d.firstBreak.actor}`,
        ),
      );
    const dl = el("dl", {});
    const row = (k, v) => dl.append(el("dt", {}, k), el("dd", {}, v));
    row("simulated time", `${fmtTime(d.t)}${d.paused ? " (paused)" : ""}`);
    row("pulls ok / failed / cached", `${d.pulls.ok} / ${d.pulls.failed} / ${d.pulls.cached}`);
    row("units started / waiting", `${d.units.started} of ${d.units.total} / ${d.units.waiting}`);
    row(
      "in ImagePullBackOff",
      `${d.units.inBackoff} now, ${d.peakInBackoff} at peak, ${d.retryWaves} retry wave(s)`,
    );
    if (d.mirror) row("mirror hit ratio", `${pct(d.mirror.hitRatio)} (${d.mirror.servedBy})`);
    if (d.clock)
      row(
        "clock lag p99",
        `${d.clock.lagP99SimSeconds ?? "-"} s timers, ${d.clock.requestP99SimSeconds ?? "-"} s requests (simulated, ${d.clock.over})`,
      );
    card.append(dl);
    return card;
  }

  function registryCard(r) {
    const card = el(
      "article",
      { class: "card", "data-design": "registry", "data-t": r.t },
      el("h3", {}, el("span", {}, "registry")),
    );
    const dl = el("dl", {});
    const row = (k, v) => dl.append(el("dt", {}, k), el("dd", {}, v));
    row("registry time", `${fmtTime(r.t)}${r.paused ? " (paused)" : ""}`);
    const refused = config.layers
      .filter((l) => l !== "ok" && l !== "other")
      .reduce((n, l) => n + r.totals[l], 0);
    row("answers", `${config.layers.reduce((n, l) => n + r.totals[l], 0)}, ${refused} refused`);
    for (const l of config.layers)
      if (l !== "ok" && r.totals[l] > 0) row(`refused by ${l}`, r.totals[l]);
    card.append(dl);
    return card;
  }

  function render(s) {
    $("scenario").textContent = s.scenario.name;
    document.title = `${s.scenario.name}: pullstorm live console`;
    $("mode").textContent =
      `${s.mode}${s.timeScale ? ` x${Math.round(s.timeScale * 10) / 10}` : ""}, ${fmtTime(s.scenario.durationSeconds)} simulated`;
    $("description").textContent = s.scenario.description;
    const t = Math.max(0, ...s.designs.map((d) => d.t));
    const broken = s.designs.filter((d) => d.verdict === "breaks").map((d) => d.name);
    $("status").textContent = s.settingUp
      ? "Setting up: measuring this machine, starting mirrors and making images; the clocks start together."
      : s.running
        ? `Running: ${fmtTime(t)} of ${fmtTime(s.scenario.durationSeconds)} simulated. ${broken.length ? `Broken so far: ${broken.join(", ")}.` : "No design has broken yet."}`
        : `The run has ended${s.ended?.interrupted ? " (interrupted)" : ""}.`;
    const grid = $("designs");
    const cards = s.registry
      ? [{ card: registryCard(s.registry), d: { name: "registry", rates: s.registry.rates } }]
      : s.designs.map((d) => ({ card: designCard(d), d }));
    if (s.registry)
      $("status").textContent =
        `Serving: ${fmtTime(s.registry.t)} of registry time${s.registry.paused ? " (paused)" : ""}.`;
    grid.replaceChildren(...cards.map((c) => c.card));
    for (const { card, d } of cards) chartFor(card, d);
    $("identities").tBodies[0].replaceChildren(
      ...s.identities.map((i) =>
        el(
          "tr",
          {},
          el("td", {}, i.design),
          el("td", {}, i.identity),
          el("td", { class: "num" }, i.limit ? i.remaining : "-"),
          el("td", { class: "num" }, i.limit ? `${i.limit} / ${fmtTime(i.windowSeconds)}` : "-"),
          el("td", { class: "num" }, i.refused),
          el("td", {}, i.refusedBy || ""),
        ),
      ),
    );
    const log = [
      ...s.findings.map((f) => ({
        key: `f:${f.id}`,
        cls: f.severity,
        text: `${f.severity.toUpperCase()} ${f.code}, ${f.design}: ${f.text}`,
      })),
      ...s.marks.map((m, i) => ({
        key: `m:${i}`,
        cls: "mark",
        text: `${fmtTime(m.t)} ${m.action}, ${m.design}: ${m.text}`,
      })),
    ];
    $("log").replaceChildren(
      ...log.map((l) => el("li", { class: l.cls, "data-key": l.key }, l.text)),
    );
    if (s.ended) {
      setEnabled(false);
      const box = $("ended");
      box.hidden = false;
      box.replaceChildren(
        el("strong", {}, "The run has ended. "),
        "Reports: ",
        ...s.ended.reports.flatMap((f, i) => [
          i ? ", " : "",
          el("a", { href: `/reports/${f}` }, f),
        ]),
        ` (also in ${s.ended.out}).`,
      );
    }
  }

  let ended = false;
  const source = new EventSource("/stream");
  source.addEventListener("snapshot", (e) => {
    const s = JSON.parse(e.data);
    if (s.ended) {
      ended = true;
      source.close();
    }
    render(s);
  });
  source.onerror = () => {
    if (ended) return;
    $("status").textContent =
      "The runner is not answering: the run may have ended (its reports are in the run's directory).";
    setEnabled(false);
  };
})();
