/**
 * The live game-day console (`pullstorm run --dashboard [HOST:]PORT`): one
 * self-contained page, a Server-Sent Events stream of the run's snapshot once
 * a wall second, the runner's Prometheus metrics, and the facilitator's
 * controls. Watching needs nothing; every control needs the run's control
 * token (`Authorization: Bearer`, checked as the registry's control API checks
 * it: fake-registry/http/control.ts) and goes to each design's registry
 * through that control API with the same token, or to the design's clock.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import Fastify, { type FastifyReply, type FastifyRequest } from "fastify";
import { controlRefusal } from "../fake-registry/http/control.ts";
import type { LiveDesignControl } from "../simulator/run.ts";
import type { MarkAction } from "../vocabulary/events.ts";
import type { RunnerMetrics } from "./metrics.ts";
import { dashboardPage } from "./page.ts";
import type { Snapshot, Watched } from "./view.ts";

export interface DashboardOptions {
  host: string;
  port: number;
  /** The control token: every control request presents it. */
  token: string;
  view: Watched;
  /** The runner's metrics on /metrics (a registry alone has its own /metrics). */
  metrics?: RunnerMetrics;
  /** Wall ms between snapshots pushed to the page (default 1000). */
  intervalMs?: number;
}

export interface RunningDashboard {
  url: string;
  /** A design's controls, once its clock has started. */
  addDesign(control: LiveDesignControl): void;
  /** The run has ended: the last snapshot says so and the reports in `out` are served. */
  ended(ended: NonNullable<Snapshot["ended"]>): void;
  close(): Promise<void>;
}

/** The reports the page links once the run has ended (served from the run's directory). */
const REPORT_FILES: Record<string, string> = {
  "report.html": "text/html; charset=utf-8",
  "report.md": "text/markdown; charset=utf-8",
  "report.json": "application/json",
  "junit.xml": "application/xml",
};

/** Faults the page offers (the registry's fault types, with a game day's usual parameters). */
const FAULT_PRESETS: Record<string, Record<string, unknown>> = {
  latency: { type: "latency", ms: 2000, jitterMs: 500 },
  "error-burst": { type: "error-burst", status: 503 },
  outage: { type: "outage", status: 503 },
  "token-outage": { type: "outage", status: 503, scope: { kinds: ["token"] } },
};

const NOTE_MAX = 500;
const MAX_STREAMS = 100;

/** Faults and policies go to the registries' control API: with --target (or before the clocks start) there is none. */
const NO_REGISTRY = {
  error:
    "no registry here the console can control: faults and policies go to the embedded registries' control API (a --target registry is someone else's), once the run's clocks have started",
};

export async function startDashboard(options: DashboardOptions): Promise<RunningDashboard> {
  const { view, metrics, token } = options;
  const designs: LiveDesignControl[] = [];
  /** Fault ids injected from the console, per registry URL (only these are cleared). */
  const injected = new Map<string, string[]>();
  const streams = new Set<FastifyReply>();
  let ended: Snapshot["ended"];
  let out: string | undefined;

  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 });
  const page = dashboardPage();

  app.get("/", async (_request, reply) =>
    reply
      .headers({
        "content-type": "text/html; charset=utf-8",
        "content-security-policy": page.csp,
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
      })
      .send(page.html),
  );

  const send = (reply: FastifyReply, event: string, data: unknown) =>
    reply.raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);

  const current = (): Snapshot => {
    const snapshot = view.snapshot();
    metrics?.update(snapshot);
    return snapshot;
  };

  app.get("/stream", (request, reply) => {
    // A room of viewers, not a crowd: every stream costs a snapshot a second to send.
    if (streams.size >= MAX_STREAMS)
      return reply.code(503).send({ error: `at most ${MAX_STREAMS} viewers at once` });
    reply.hijack();
    reply.raw.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-store",
      connection: "keep-alive",
      "x-content-type-options": "nosniff",
    });
    streams.add(reply);
    send(reply, "snapshot", current());
    request.raw.on("close", () => streams.delete(reply));
  });

  const timer = setInterval(() => {
    // Folded only for someone watching (a scrape of /metrics folds on its own).
    if (streams.size === 0) return;
    const snapshot = current();
    for (const reply of streams) send(reply, "snapshot", snapshot);
  }, options.intervalMs ?? 1000);

  app.get("/metrics", async (_request, reply) => {
    if (!metrics)
      return reply
        .code(404)
        .send({ error: "a registry alone: its metrics are on the registry's own /metrics" });
    current();
    return reply.header("content-type", metrics.contentType).send(await metrics.text());
  });

  app.get<{ Params: { file: string } }>("/reports/:file", async (request, reply) => {
    const file = request.params.file;
    const type = Object.hasOwn(REPORT_FILES, file) ? REPORT_FILES[file] : undefined;
    if (!type || !out)
      return reply.code(404).send({ error: "the reports are written when the run ends" });
    return reply
      .headers({ "content-type": type, "x-content-type-options": "nosniff" })
      .send(readFileSync(join(out, file)));
  });

  // Controls: the token, a Host this server answers to, no foreign Origin, JSON bodies.
  const guard = async (request: FastifyRequest, reply: FastifyReply) => {
    const refused = controlRefusal(request, token, new Set());
    if (refused) return reply.code(refused.status).headers(refused.headers).send(refused.body);
    if (ended) return reply.code(409).send({ error: "the run has ended" });
  };
  const live = () => designs.filter((d) => !d.ended);
  const markAll = (action: MarkAction, text: string) => {
    for (const d of live()) d.mark(action, text);
  };
  /** One control API call on one registry, with the token. */
  const callRegistry = async (
    design: string,
    url: string,
    method: string,
    path: string,
    body?: unknown,
  ) => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(5000),
    });
    const text = await response.text();
    let answer: unknown = text;
    try {
      answer = JSON.parse(text);
    } catch {}
    return { design, url, status: response.status, answer };
  };
  /** The same call on every running design's registry. */
  const onRegistries = (method: string, path: string, body?: unknown) =>
    Promise.all(
      live()
        .filter((d) => d.registryUrl)
        .map((d) => callRegistry(d.design, d.registryUrl as string, method, path, body)),
    );

  app.post<{ Body: { fault?: string; spec?: Record<string, unknown> } }>(
    "/api/faults",
    { onRequest: guard, schema: { body: { type: "object" } } },
    async (request, reply) => {
      const { fault, spec } = request.body;
      const chosen = spec ?? (fault ? FAULT_PRESETS[fault] : undefined);
      if (!chosen)
        return reply.code(400).send({
          error: `name a fault (${Object.keys(FAULT_PRESETS).join(", ")}) or give a spec`,
        });
      if (!live().some((d) => d.registryUrl)) return reply.code(409).send(NO_REGISTRY);
      const answers = await onRegistries("POST", "/_pullstorm/faults", chosen);
      const failed = answers.filter((a) => a.status !== 201);
      for (const a of answers) {
        const id = (a.answer as { id?: string }).id;
        if (a.status === 201 && id) injected.set(a.url, [...(injected.get(a.url) ?? []), id]);
      }
      if (failed.length === 0 && answers.length > 0)
        markAll("fault", `${describeFault(chosen)} (from the console)`);
      return reply.code(failed.length > 0 ? 400 : 201).send({ answers });
    },
  );

  app.delete("/api/faults", { onRequest: guard }, async (_request, reply) => {
    const byUrl = new Map(designs.map((d) => [d.registryUrl, d.design]));
    const answers = await Promise.all(
      [...injected].flatMap(([url, ids]) =>
        ids.map((id) =>
          callRegistry(
            byUrl.get(url) ?? "",
            url,
            "DELETE",
            `/_pullstorm/faults/${encodeURIComponent(id)}`,
          ),
        ),
      ),
    );
    const cleared = [...injected.values()].flat().length;
    injected.clear();
    if (cleared > 0) markAll("fault-cleared", "faults injected from the console cleared");
    return reply.send({ cleared, answers });
  });

  app.put<{ Body: { preset?: string } }>(
    "/api/policy",
    { onRequest: guard, schema: { body: { type: "object" } } },
    async (request, reply) => {
      const { preset } = request.body;
      if (typeof preset !== "string" || preset.length === 0 || preset.length > 100)
        return reply.code(400).send({ error: 'name a preset: { "preset": "ghcr" }' });
      if (!live().some((d) => d.registryUrl)) return reply.code(409).send(NO_REGISTRY);
      const answers = await onRegistries("PUT", "/_pullstorm/policy", { preset });
      const failed = answers.filter((a) => a.status !== 200);
      if (failed.length === 0 && answers.length > 0)
        markAll("policy", `policy swapped to preset ${preset}`);
      return reply.code(failed.length > 0 ? 400 : 200).send({ answers });
    },
  );

  app.post("/api/pause", { onRequest: guard }, async (_request, reply) => {
    const running = live().filter((d) => !d.paused && d.pausable !== false);
    const fixed = live().filter((d) => d.pausable === false);
    if (running.length === 0 && fixed.length > 0)
      return reply.code(409).send({
        error:
          "this registry runs on the wall clock (no --time-scale): its time cannot stand still",
      });
    for (const d of running) {
      d.mark("pause", "scenario clock paused from the console");
      d.pause();
    }
    return reply.send({ paused: running.map((d) => d.design) });
  });

  app.post("/api/resume", { onRequest: guard }, async (_request, reply) => {
    const paused = live().filter((d) => d.paused);
    for (const d of paused) {
      d.resume();
      d.mark("resume", "scenario clock resumed from the console");
    }
    return reply.send({ resumed: paused.map((d) => d.design) });
  });

  app.post<{ Body: { note?: string } }>(
    "/api/mark",
    { onRequest: guard, schema: { body: { type: "object" } } },
    async (request, reply) => {
      const note = request.body.note;
      if (typeof note !== "string" || note.trim().length === 0 || note.length > NOTE_MAX)
        return reply.code(400).send({ error: `a note is 1 to ${NOTE_MAX} characters` });
      markAll("note", note.trim());
      return reply.code(201).send({ marked: live().map((d) => d.design) });
    },
  );

  app.setNotFoundHandler((_request, reply) => reply.code(404).send({ error: "not found" }));
  app.setErrorHandler((error, _request, reply) => {
    const { statusCode, message } = error as { statusCode?: number; message?: string };
    const status = statusCode ?? 500;
    reply.code(status >= 400 && status < 500 ? status : 500).send({
      error: status < 500 ? (message ?? "bad request") : "internal error",
    });
  });

  await app.listen({ host: options.host, port: options.port });
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}/`,
    addDesign: (control) => {
      designs.push(control);
    },
    ended: (e) => {
      ended = e;
      out = e.out;
      view.end(e);
      const snapshot = current();
      for (const reply of streams) send(reply, "snapshot", snapshot);
    },
    close: async () => {
      clearInterval(timer);
      for (const reply of streams) reply.raw.end();
      streams.clear();
      await app.close();
    },
  };
}

/** A fault spec in a few words: "latency ms=2000 jitterMs=500". */
function describeFault(spec: Record<string, unknown>): string {
  const { type, ...params } = spec;
  const words = Object.entries(params).map(
    ([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : String(v)}`,
  );
  return [String(type), ...words].join(" ");
}
