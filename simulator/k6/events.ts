import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { createGunzip } from "node:zlib";
import type { EndpointKind } from "../../fake-registry/core/types.ts";
import type {
  PullEvent,
  RateLimitSeen,
  RequestEvent,
  SimEvent,
  StartEvent,
} from "../../vocabulary/events.ts";
import type { K6Plan } from "./plan.ts";

/**
 * k6's JSON output (`--out json=FILE`, one object per line) turned into the
 * events the native engine emits (simulator/engine/events.ts), so buildReport
 * and the report writers work on them unchanged:
 *  - every `http_reqs` Point with an endpoint `kind` tag (manifest, blob, token, ping...) is one
 *    RequestEvent: design, identity, egress, host and kind from its tags,
 *    method and status from k6's system tags, time from the sample's time;
 *    the actor, and what only the answer tells (bytes, OCI error code,
 *    refusal layer, RateLimit headers, network error, latency), from the
 *    `pullstorm_response_bytes` Point with the same `rq` metadata;
 *  - `pullstorm_pull_seconds` Points are PullEvents, `pullstorm_start_seconds`
 *    Points StartEvents;
 *  - wall time becomes simulated seconds from the `pullstorm_t0` Point
 *    (setup's t=0) and the plan's time scale.
 * Jobs and desktops the plan has but k6 never started (the scenario ended
 * first, or k6 was stopped) are reported as not started, as the native
 * runner's finish() does.
 */

export interface K6Point {
  metric: string;
  timeMs: number;
  value: number;
  tags: Record<string, string>;
  metadata: Record<string, string>;
}

/** The endpoint kinds a client's requests are tagged with (setup's clock sync is "sync"). */
const KINDS = new Set<string>(["ping", "token", "manifest", "blob", "tags", "push", "other"]);
const WANTED = new Set([
  "http_reqs",
  "pullstorm_response_bytes",
  "pullstorm_pull_seconds",
  "pullstorm_start_seconds",
  "pullstorm_t0",
]);

/** RFC 3339 with nanoseconds (k6 writes them) to epoch ms with the fraction kept. */
export function parseTime(text: string): number {
  const m = /^(.+T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$/.exec(text);
  if (!m) return Date.parse(text);
  return Date.parse(`${m[1]}${m[3]}`) + Number(`0${m[2] ?? ""}`) * 1000;
}

/** Reads the Points the report needs from a k6 JSON output file (plain or .gz; a truncated tail is tolerated). */
export async function readK6Points(file: string): Promise<K6Point[]> {
  const points: K6Point[] = [];
  const raw = createReadStream(file);
  const input = file.endsWith(".gz") ? raw.pipe(createGunzip()) : raw;
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  const done = new Promise<void>((resolve) => {
    // A k6 stopped hard leaves a truncated gzip stream: keep what was read.
    input.on("error", () => {
      lines.close();
      resolve();
    });
    lines.on("close", () => resolve());
  });
  lines.on("line", (line) => {
    if (!line.includes('"Point"')) return;
    let row: {
      type?: string;
      metric?: string;
      data?: {
        time?: string;
        value?: number;
        tags?: Record<string, string> | null;
        metadata?: Record<string, string> | null;
      };
    };
    try {
      row = JSON.parse(line);
    } catch {
      return;
    }
    if (row.type !== "Point" || !row.metric || !WANTED.has(row.metric) || !row.data?.time) return;
    points.push({
      metric: row.metric,
      timeMs: parseTime(row.data.time),
      value: row.data.value ?? 0,
      tags: row.data.tags ?? {},
      metadata: row.data.metadata ?? {},
    });
  });
  await done;
  return points;
}

function rateLimitOf(text: string | undefined): RateLimitSeen | undefined {
  if (!text) return undefined;
  const [limit, remaining, window, source] = text.split(";");
  if (!limit || !remaining || !window) return undefined;
  return {
    limit: Number(limit),
    remaining: Number(remaining),
    windowSeconds: Number(window),
    ...(source ? { source } : {}),
  };
}

export interface ConvertOptions {
  plan: K6Plan;
  /** Wall epoch ms of t=0 when known from outside (the sync endpoint); else pullstorm_t0. */
  t0?: number;
  /** Simulated ms the run reached (an interrupted run ends early). */
  endMs?: number;
}

export interface Converted {
  events: SimEvent[];
  t0: number | undefined;
  /** http_reqs Points that became request events, and those without a response Point. */
  requests: number;
  unmatched: number;
}

/** The native engine's events from the Points of one design's k6 run. */
export function eventsFromPoints(points: K6Point[], options: ConvertOptions): Converted {
  const { plan } = options;
  const design = plan.design;
  const t0 =
    options.t0 ??
    points.find((p) => p.metric === "pullstorm_t0" && p.tags.design === design)?.value ??
    points.find((p) => p.metric === "pullstorm_t0")?.value;
  const origin = t0 ?? Math.min(...points.map((p) => p.timeMs));
  const simSeconds = (timeMs: number) =>
    Math.max(0, Math.round((timeMs - origin) * plan.timeScale) / 1000);
  const responses = new Map<string, K6Point>();
  for (const p of points)
    if (p.metric === "pullstorm_response_bytes" && p.metadata.rq) responses.set(p.metadata.rq, p);

  const events: SimEvent[] = [];
  let requests = 0;
  let unmatched = 0;
  const jobsSeen = new Set<string>();
  const desktopsSeen = new Set<string>();
  for (const p of points) {
    if (p.tags.design !== undefined && p.tags.design !== design) continue;
    const t = simSeconds(p.timeMs);
    if (p.metric === "http_reqs") {
      const kind = p.tags.kind ?? "";
      if (!KINDS.has(kind)) continue;
      requests++;
      const answer = p.metadata.rq ? responses.get(p.metadata.rq) : undefined;
      if (!answer) unmatched++;
      const meta = answer?.metadata ?? {};
      const rateLimit = rateLimitOf(meta.ratelimit);
      const event: RequestEvent = {
        type: "request",
        t,
        design,
        actor: p.metadata.actor ?? "",
        identity: p.tags.identity ?? "",
        egressIp: p.tags.egress ?? "",
        host: p.tags.host ?? "",
        kind: kind as EndpointKind,
        method: p.tags.method ?? "",
        status: Number(p.tags.status ?? 0),
        bytes: answer?.value ?? 0,
        latencyMs: Number(meta.latency ?? 0),
        ...(meta.network ? { network: meta.network } : {}),
        ...(meta.code ? { code: meta.code } : {}),
        ...(rateLimit ? { rateLimit } : {}),
        ...(meta.refusal ? { refusal: meta.refusal } : {}),
      };
      events.push(event);
    } else if (p.metric === "pullstorm_pull_seconds") {
      const event: PullEvent = {
        type: "pull",
        t,
        design,
        actor: p.metadata.actor ?? "",
        identity: p.tags.identity ?? "",
        image: p.tags.image ?? "",
        outcome: (p.tags.outcome ?? "failed") as PullEvent["outcome"],
        ...(p.tags.reason ? { reason: p.tags.reason } : {}),
        ...(p.metadata.status !== undefined ? { status: Number(p.metadata.status) } : {}),
        ...(p.tags.host ? { host: p.tags.host } : {}),
        durationSeconds: p.value,
        requests: Number(p.metadata.requests ?? 0),
      };
      events.push(event);
    } else if (p.metric === "pullstorm_start_seconds") {
      const what = (p.tags.what ?? "pod") as StartEvent["what"];
      const id = p.metadata.id ?? "";
      if (what === "job") jobsSeen.add(id);
      if (what === "desktop") desktopsSeen.add(id);
      events.push({
        type: "start",
        t,
        design,
        actor: p.metadata.actor ?? "",
        what,
        id,
        ok: p.tags.ok === "true",
        seconds: p.value,
      });
    }
  }

  // Units k6 never got to: queued jobs and arrived desktops still waiting at the end.
  const endMs = Math.min(options.endMs ?? plan.durationMs, plan.durationMs);
  const end = endMs / 1000;
  for (const g of Object.values(plan.groups)) {
    if (g.kind === "ci")
      for (let i = 0; i < g.jobs; i++) {
        const id = `job-${g.firstJob + i + 1}`;
        const queuedAt = g.atMs + (g.overMs > 0 ? (i * g.overMs) / g.jobs : 0);
        if (jobsSeen.has(id) || queuedAt > endMs) continue;
        events.push({
          type: "start",
          t: end,
          design,
          actor: "queue",
          what: "job",
          id,
          ok: false,
          seconds: (endMs - queuedAt) / 1000,
        });
      }
    if (g.kind === "arrivals")
      for (let i = 0; i < g.desktops; i++) {
        const id = `desktop-${g.firstDesktop + i + 1}`;
        const arrived = g.atMs + (g.overMs > 0 ? (i * g.overMs) / g.desktops : 0);
        if (desktopsSeen.has(id) || arrived >= endMs) continue;
        events.push({
          type: "start",
          t: end,
          design,
          actor: id,
          what: "desktop",
          id,
          ok: false,
          seconds: (endMs - arrived) / 1000,
        });
      }
  }
  return { events, t0, requests, unmatched };
}

/** Orders events by simulated time (stable), as the native engine emits them. */
export function byTime<T extends { t: number }>(events: T[]): T[] {
  return events
    .map((e, i) => ({ e, i }))
    .sort((a, b) => a.e.t - b.e.t || a.i - b.i)
    .map(({ e }) => e);
}
