// report.html's charts, inlined by reports/html.ts after uPlot. Reads the analysis
// from the <script type="application/json" id="pullstorm-analysis"> block and
// draws into the .chart placeholders; everything it shows is also in the tables.
/* global uPlot */
(() => {
  document.documentElement.classList.add("js");

  const analysis = JSON.parse(document.getElementById("pullstorm-analysis").textContent);
  const duration = analysis.scenario.durationSeconds;
  const designs = new Map(analysis.designs.map((d) => [d.name, d]));
  const charts = [];

  const PALETTE = [
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
  ];
  const FAULT_FILL = "rgba(237, 161, 43, 0.16)";
  const FAULT_EDGE = "rgba(200, 120, 10, 0.75)";
  const BREAK_STROKE = "#b42318";
  const MARK_STROKE = "#0057a3";
  const MARK_TEXT = {
    note: "note",
    fault: "fault injected",
    "fault-cleared": "fault cleared",
    policy: "policy swapped",
    pause: "paused",
    resume: "resumed",
  };
  const AXIS = { stroke: "#5b6272", grid: { stroke: "#e6e9ef", width: 1 }, ticks: { show: false } };
  const pxr = () => uPlot.pxRatio || 1;
  // Counts: whole-number ticks only.
  const INT_INCRS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000];
  for (let m = 10000; m < 1e9; m *= 10) INT_INCRS.push(m * 2, m * 5, m * 10);

  /** Seconds as the write-up says them: 45s, 15m, 1h30. */
  function clock(s) {
    if (s == null || !Number.isFinite(s)) return "";
    const v = Math.round(s);
    const h = Math.floor(v / 3600);
    const m = Math.floor((v % 3600) / 60);
    const sec = v % 60;
    if (h > 0) return m === 0 && sec === 0 ? `${h}h` : `${h}h${String(m).padStart(2, "0")}`;
    if (m > 0) return sec === 0 ? `${m}m` : `${m}m${String(sec).padStart(2, "0")}s`;
    return `${sec}s`;
  }

  function seconds(s) {
    if (s == null || !Number.isFinite(s)) return "";
    if (s < 10) return `${Math.round(s * 10) / 10}s`;
    if (s < 120) return `${Math.round(s)}s`;
    return clock(s);
  }

  const count = (v) => (v == null ? "" : Math.round(v).toLocaleString("en-US"));
  const stepped = () => uPlot.paths.stepped({ align: 1 });

  /** Keeps the last y of duplicate x values and sorts by x (uPlot wants a strictly ascending x). */
  function table(points) {
    const byX = new Map();
    for (const [x, y] of points) byX.set(x, y);
    const xs = [...byX.keys()].sort((a, b) => a - b);
    return [xs, xs.map((x) => byX.get(x))];
  }

  const timeAxis = {
    ...AXIS,
    space: 55,
    incrs: [1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400],
    values: (_u, splits) => splits.map(clock),
  };

  const ROW = 15;

  /** Room above the plot for the annotation labels: a row for faults, a row for the first break. */
  function gutter(design) {
    const rows =
      (analysis.faults.length > 0 ? 1 : 0) +
      (design?.firstBreak ? 1 : 0) +
      (marksOf(design).length > 0 ? 1 : 0);
    return rows === 0 ? null : rows * ROW + 6;
  }

  /** The game-day marks of a design (notes and control actions from the live console). */
  function marksOf(design) {
    return (analysis.marks || []).filter((m) => design && m.design === design.name);
  }

  /** Lays labels out on one line above the plot, left to right, without overlaps. */
  function labelRow(u, labels, baseline) {
    const ctx = u.ctx;
    const right = u.bbox.left + u.bbox.width;
    let cursor = u.bbox.left;
    for (const l of [...labels].sort((a, b) => a.x - b.x)) {
      ctx.font = `${l.bold ? "bold " : ""}${11 * pxr()}px system-ui, sans-serif`;
      const w = ctx.measureText(l.text).width;
      let lx = Math.max(l.x + 3 * pxr(), cursor);
      if (lx + w > right) lx = l.flip ? l.x - 3 * pxr() - w : right - w;
      lx = Math.max(lx, cursor, u.bbox.left);
      ctx.fillStyle = l.color;
      ctx.fillText(l.text, lx, baseline);
      cursor = lx + w + 10 * pxr();
    }
  }

  /**
   * Fault windows as shaded bands under the series (dashed edges), the design's
   * first break as a red dashed line, both labelled above the plot.
   */
  function annotations(el, design) {
    const faults = analysis.faults || [];
    const fb = design?.firstBreak;
    const span = (u, f) => {
      const x0 = Math.max(u.bbox.left, u.valToPos(f.start, "x", true));
      const endT = f.end == null ? duration : f.end;
      const x1 = Math.min(u.bbox.left + u.bbox.width, u.valToPos(endT, "x", true));
      return [x0, Math.max(x1, x0 + 2 * pxr())];
    };
    const visible = (u, x) => x >= u.bbox.left && x <= u.bbox.left + u.bbox.width;
    const vline = (ctx, u, x) => {
      ctx.moveTo(x, u.bbox.top);
      ctx.lineTo(x, u.bbox.top + u.bbox.height);
    };
    return {
      hooks: {
        drawClear: [
          (u) => {
            const ctx = u.ctx;
            let drawn = 0;
            ctx.save();
            for (const f of faults) {
              const [x0, x1] = span(u, f);
              if (!visible(u, x0)) continue;
              ctx.fillStyle = FAULT_FILL;
              ctx.fillRect(x0, u.bbox.top, x1 - x0, u.bbox.height);
              ctx.strokeStyle = FAULT_EDGE;
              ctx.lineWidth = pxr();
              ctx.setLineDash([4 * pxr(), 3 * pxr()]);
              ctx.beginPath();
              vline(ctx, u, x0);
              if (f.end != null) vline(ctx, u, x1);
              ctx.stroke();
              drawn++;
            }
            ctx.restore();
            el.dataset.faultBands = String(drawn);
          },
        ],
        draw: [
          (u) => {
            const ctx = u.ctx;
            ctx.save();
            // uPlot leaves the alignment of its last axis label on the context.
            ctx.textAlign = "left";
            ctx.textBaseline = "bottom";
            const rows = [];
            if (faults.length > 0)
              rows.push(
                faults
                  .map((f) => ({ x: span(u, f)[0], text: `⚡ ${f.id}`, color: "#8a5a00" }))
                  .filter((l) => visible(u, l.x)),
              );
            const marks = marksOf(design);
            if (marks.length > 0) {
              // Game-day marks: dotted blue lines, labelled with what was done.
              let drawnMarks = 0;
              ctx.strokeStyle = MARK_STROKE;
              ctx.lineWidth = pxr();
              ctx.setLineDash([2 * pxr(), 3 * pxr()]);
              const labels = [];
              for (const m of marks) {
                const x = u.valToPos(m.t, "x", true);
                if (!visible(u, x)) continue;
                ctx.beginPath();
                vline(ctx, u, x);
                ctx.stroke();
                drawnMarks++;
                labels.push({
                  x,
                  text: `✎ ${MARK_TEXT[m.action] || m.action}`,
                  color: MARK_STROKE,
                });
              }
              ctx.setLineDash([]);
              el.dataset.marks = String(drawnMarks);
              rows.push(labels);
            }
            if (fb) {
              const x = u.valToPos(fb.t, "x", true);
              if (visible(u, x)) {
                ctx.strokeStyle = BREAK_STROKE;
                ctx.lineWidth = 2 * pxr();
                ctx.setLineDash([6 * pxr(), 4 * pxr()]);
                ctx.beginPath();
                ctx.moveTo(x, u.bbox.top - 3 * pxr());
                ctx.lineTo(x, u.bbox.top + u.bbox.height);
                ctx.stroke();
                el.dataset.firstBreak = "1";
              }
              rows.push([
                {
                  x,
                  text: `✖ first break ${clock(fb.t)} (${fb.layer})`,
                  color: BREAK_STROKE,
                  bold: true,
                  flip: true,
                },
              ]);
            }
            // Bottom row nearest the plot.
            rows.forEach((labels, i) => {
              const baseline = u.bbox.top - (rows.length - 1 - i) * ROW * pxr() - 4 * pxr();
              labelRow(u, labels, baseline);
            });
            ctx.restore();
          },
        ],
      },
    };
  }

  function mount(el, opts, data, height) {
    const width = Math.max(280, el.clientWidth);
    const u = new uPlot({ width, height, ...opts }, data, el);
    charts.push({ el, u, height });
    el.dataset.rendered = "1";
    return u;
  }

  function timelineChart(el, d) {
    const rows = d.timeline;
    const x = rows.map((b) => b.t);
    const col = (k) => rows.map((b) => b[k]);
    const bucket = `${d.bucketSeconds}s`;
    const line = (label, stroke, extra) => ({
      label,
      stroke,
      width: 1.6,
      scale: "req",
      paths: stepped(),
      points: { show: false },
      value: (_u, v) => count(v),
      ...extra,
    });
    const unit = (label, stroke) => ({
      label,
      stroke,
      width: 2,
      dash: [6, 4],
      scale: "units",
      paths: stepped(),
      points: { show: false },
      value: (_u, v) => count(v),
    });
    mount(
      el,
      {
        plugins: [annotations(el, d)],
        padding: [gutter(d), null, null, null],
        scales: {
          x: { time: false, range: [0, Math.max(duration, x[x.length - 1] || 0)] },
          req: { range: (_u, _min, max) => uPlot.rangeNum(0, Math.max(max, 1), 0.1, true) },
          // A handful of waiting units should look like a handful, not fill the chart.
          units: { range: (_u, _min, max) => uPlot.rangeNum(0, Math.max(max, 10), 0.1, true) },
        },
        series: [
          { label: "time", value: (_u, v) => clock(v) },
          line(`requests / ${bucket}`, PALETTE[0], { width: 3 }),
          line(`upstream requests / ${bucket}`, PALETTE[4], { width: 1.4 }),
          line(`429s / ${bucket}`, PALETTE[3], { fill: "rgba(225, 87, 89, 0.18)" }),
          line(`failed pulls / ${bucket}`, "#7a1f1f", { width: 2 }),
          unit("units waiting", PALETTE[1]),
          unit("in backoff", PALETTE[6]),
        ],
        axes: [
          timeAxis,
          { ...AXIS, scale: "req", label: `per ${bucket} bucket`, size: 56, incrs: INT_INCRS },
          {
            ...AXIS,
            scale: "units",
            side: 1,
            label: "units waiting / in backoff",
            grid: { show: false },
            size: 50,
            incrs: INT_INCRS,
          },
        ],
        legend: { live: true },
      },
      [
        x,
        col("requests"),
        col("upstreamRequests"),
        col("status429"),
        col("pullsFailed"),
        col("waiting"),
        col("inBackoff"),
      ],
      280,
    );
  }

  /** Quota remaining per identity: the ten closest to running out. */
  function headroomChart(el, d) {
    const series = [...d.headroom]
      .sort(
        (a, b) =>
          a.minRemaining / (a.limit || 1) - b.minRemaining / (b.limit || 1) ||
          (a.exhaustedAt ?? Number.POSITIVE_INFINITY) -
            (b.exhaustedAt ?? Number.POSITIVE_INFINITY) ||
          a.identity.localeCompare(b.identity),
      )
      .slice(0, 10)
      .filter((h) => h.points.length > 0);
    if (series.length === 0) return false;
    const joined = uPlot.join(series.map((h) => table(h.points)));
    const maxLimit = Math.max(...series.map((h) => h.limit), 1);
    mount(
      el,
      {
        plugins: [annotations(el, d)],
        padding: [gutter(d), null, null, null],
        scales: {
          x: { time: false, range: [0, duration] },
          y: { range: [0, Math.ceil(maxLimit * 1.05)] },
        },
        series: [
          { label: "time", value: (_u, v) => clock(v) },
          ...series.map((h, i) => ({
            label: `${h.identity} (of ${h.limit})`,
            stroke: PALETTE[i % PALETTE.length],
            width: 1.8,
            paths: stepped(),
            spanGaps: true,
            points: { show: true, size: 4 },
            value: (_u, v) => count(v),
          })),
        ],
        axes: [timeAxis, { ...AXIS, label: "quota remaining", size: 56, incrs: INT_INCRS }],
      },
      joined,
      240,
    );
    return true;
  }

  const NICE_SECONDS = [
    0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800,
    86400,
  ];

  function logSplits(lo, hi) {
    let splits = NICE_SECONDS.filter((v) => v >= lo && v <= hi);
    while (splits.length > 9) splits = splits.filter((_v, i) => i % 2 === 0);
    return splits;
  }

  /** A dashed line at 95% of the started units: where the curve crosses it is the p95. */
  function p95Guide() {
    return {
      hooks: {
        draw: [
          (u) => {
            const y = u.valToPos(0.95, "y", true);
            const ctx = u.ctx;
            ctx.save();
            ctx.strokeStyle = "rgba(91, 98, 114, 0.7)";
            ctx.lineWidth = pxr();
            ctx.setLineDash([3 * pxr(), 3 * pxr()]);
            ctx.beginPath();
            ctx.moveTo(u.bbox.left, y);
            ctx.lineTo(u.bbox.left + u.bbox.width, y);
            ctx.stroke();
            ctx.font = `${11 * pxr()}px system-ui, sans-serif`;
            ctx.fillStyle = "#5b6272";
            ctx.textAlign = "right";
            ctx.textBaseline = "top";
            ctx.fillText("p95", u.bbox.left + u.bbox.width - 4 * pxr(), y + 2 * pxr());
            ctx.restore();
          },
        ],
      },
    };
  }

  function cdfSeries(label, color) {
    return {
      label,
      stroke: color,
      width: 2,
      paths: stepped(),
      spanGaps: true,
      points: { show: false },
      value: (_u, v) => (v == null ? "" : `${Math.round(v * 1000) / 10}%`),
    };
  }

  function cdfOptions(tables, labels, colors) {
    const xs = tables.flatMap((t) => t[0]);
    const min = Math.min(...xs);
    const max = Math.max(...xs);
    const log = min > 0 && max / min > 20;
    return {
      scales: {
        x: log
          ? { time: false, distr: 3, log: 10 }
          : { time: false, range: (_u, _a, b) => [0, Math.max(b, 1)] },
        y: { range: [0, 1.03] },
      },
      series: [
        { label: "start latency", value: (_u, v) => seconds(v) },
        ...labels.map((l, i) => cdfSeries(l, colors[i])),
      ],
      axes: [
        {
          ...AXIS,
          space: 50,
          values: (_u, splits) => splits.map(seconds),
          // uPlot thins log-axis labels to 1-2-5 decades; these splits are already sparse.
          ...(log ? { splits: (_u, _i, lo, hi) => logSplits(lo, hi), filter: (_u, v) => v } : {}),
        },
        {
          ...AXIS,
          label: "share of started units",
          size: 56,
          splits: () => [0, 0.25, 0.5, 0.75, 1],
          values: (_u, splits) => splits.map((v) => `${Math.round(v * 100)}%`),
        },
      ],
      plugins: [p95Guide()],
    };
  }

  function cdfChart(el, d, color) {
    if (!d.startCdf || d.startCdf.length === 0) return false;
    const t = table(d.startCdf);
    mount(el, cdfOptions([t], ["started by"], [color]), t, 240);
    return true;
  }

  function cdfOverview(el) {
    const withCdf = analysis.designs.filter((d) => d.startCdf && d.startCdf.length > 0);
    if (withCdf.length === 0) return false;
    const tables = withCdf.map((d) => table(d.startCdf));
    const colors = withCdf.map((d) => PALETTE[analysis.designs.indexOf(d) % PALETTE.length]);
    mount(
      el,
      cdfOptions(
        tables,
        withCdf.map((d) => d.name),
        colors,
      ),
      uPlot.join(tables),
      260,
    );
    return true;
  }

  function fallback(el, text) {
    el.classList.add("note");
    el.textContent = text;
    el.dataset.rendered = "0";
  }

  for (const el of document.querySelectorAll(".chart[data-chart]")) {
    const kind = el.dataset.chart;
    const d = el.dataset.design === undefined ? undefined : designs.get(el.dataset.design);
    const color = PALETTE[analysis.designs.indexOf(d) % PALETTE.length];
    if (kind === "timeline" && d) timelineChart(el, d);
    else if (kind === "headroom" && d) {
      if (!headroomChart(el, d)) fallback(el, "No RateLimit headers were seen for this design.");
    } else if (kind === "cdf" && d) {
      if (!cdfChart(el, d, color))
        fallback(el, "No unit started: there is no start latency to plot.");
    } else if (kind === "cdf-all") {
      if (!cdfOverview(el)) fallback(el, "No unit started in any design.");
    }
  }

  let pending = 0;
  window.addEventListener("resize", () => {
    cancelAnimationFrame(pending);
    pending = requestAnimationFrame(() => {
      for (const c of charts)
        c.u.setSize({ width: Math.max(280, c.el.clientWidth), height: c.height });
    });
  });
  document.body.dataset.chartsReady = String(charts.length);
})();
