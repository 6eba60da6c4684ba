/**
 * Game-day control as a Fastify plugin: inspect and swap the policy, add and
 * remove faults, reset counters, read stats and Prometheus metrics. It sits
 * beside the registry core, not in it: only a served registry has it (the
 * simulator's in-process transport never asks). Answers are OCI-shaped like
 * the registry's, and counted in its stats as kind `other`.
 *
 * Who may use it (checked in this order, before any route runs):
 * - with a control token (`--control-token`), every caller presents it as
 *   `Authorization: Bearer <token>`, loopback callers too; without one, loopback
 *   callers only (403 DENIED);
 * - the `Host` header names an address the registry serves: the address the
 *   connection arrived at, `localhost` on loopback, or a name given with
 *   `--control-host` (403: a DNS-rebinding page names its own host);
 * - an `Origin` header, when sent, is the registry's own origin (403: a page of
 *   another site, or of another port, cannot drive it);
 * - a body, when sent, is `application/json` (415: a form or text/plain POST
 *   needs no CORS preflight, a JSON one does).
 */
import { timingSafeEqual } from "node:crypto";
import { isIP } from "node:net";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { ociError } from "../core/errors.ts";
import type { Identity, RegistryResponse } from "../core/types.ts";
import { storeUnavailableResponse } from "../policy/enforcer.ts";
import { parsePolicyDocument } from "../policy/file.ts";
import { PRESETS } from "../policy/presets.ts";
import { QuotaStoreUnavailableError } from "../policy/store.ts";
import { isLoopback } from "../policy/subject.ts";
import type { Registry } from "../registry/registry.ts";
import { clientIp } from "./client-ip.ts";

export interface ControlOptions {
  registry: Registry;
  /** Host names (without port) the control API answers besides the registry's own addresses (`--control-host`). */
  hosts?: string[];
}

/** The fault layer's control surface (implemented by ../faults/fault-set.ts). */
export interface FaultControl {
  add(spec: unknown): { ok: true; fault: unknown } | { ok: false; errors: string[] };
  remove(id: string): boolean;
  clear(): void;
  list(): unknown[];
}

const API_VERSION = { "docker-distribution-api-version": "registry/2.0" };
const ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;
/** A JSON object body; what is in it is checked by the policy or fault parser, which names every problem. */
const OBJECT_BODY = { type: "object" } as const;
/** Identities per page of `/_pullstorm/stats` unless `n` says otherwise (at most STATS_PAGE_MAX). */
const STATS_PAGE = 100;
const STATS_PAGE_MAX = 1000;
const STATS_QUERY = {
  type: "object",
  properties: {
    n: { type: "integer", minimum: 1, maximum: STATS_PAGE_MAX },
    last: { type: "string", maxLength: 300 },
    identity: { type: "string", maxLength: 300 },
  },
  additionalProperties: false,
} as const;

/** The index of the first key after `last` in sorted keys. */
function firstAfter(keys: string[], last: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((keys[mid] as string) <= last) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const FAULT_ID_PARAMS = {
  type: "object",
  properties: { id: { type: "string", maxLength: 200 } },
  required: ["id"],
} as const;

function json(status: number, value: unknown): RegistryResponse {
  return {
    status,
    headers: { "content-type": "application/json" },
    body: JSON.stringify(value, null, 2),
  };
}

function faultControl(registry: Registry): FaultControl | undefined {
  const faults = registry.faults as unknown as Partial<FaultControl> | undefined;
  return faults?.add && faults.remove && faults.clear && faults.list
    ? (faults as FaultControl)
    : undefined;
}

const NO_FAULT_LAYER = () =>
  ociError("UNSUPPORTED", "this registry has no fault layer", { status: 404 });

export async function controlPlugin(app: FastifyInstance, options: ControlOptions): Promise<void> {
  const { registry } = options;

  /** Every control answer leaves through here: the registry's version header, counted, sent. */
  const answer = (request: FastifyRequest, reply: FastifyReply, response: RegistryResponse) => {
    const ip = clientIp(request.socket.remoteAddress);
    const headers = { ...response.headers, ...API_VERSION };
    request.handled = { response, kind: "other", identity: anonymous(ip) };
    registry.countOther(request.method, response.status, { ip });
    return reply.code(response.status).headers(headers).send(response.body);
  };

  const hosts = new Set((options.hosts ?? []).map((h) => h.toLowerCase()));
  app.addHook("onRequest", async (request, reply) => {
    const refused = controlRefusal(request, registry.controlToken, hosts);
    if (refused) return answer(request, reply, refused);
  });

  // The server reads bodies as text (only the token POST takes one); control bodies are JSON (checked above).
  app.addHook("preValidation", async (request, reply) => {
    if (!request.routeOptions.schema?.body) return;
    try {
      request.body = JSON.parse(typeof request.body === "string" ? request.body : "");
    } catch {
      return answer(
        request,
        reply,
        ociError("UNSUPPORTED", "the body must be JSON", { status: 400 }),
      );
    }
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error.validation) {
      const problem = `${error.validationContext ?? "request"}${error.validation[0]?.instancePath ?? ""} ${error.validation[0]?.message ?? "is invalid"}`;
      return answer(
        request,
        reply,
        ociError("UNSUPPORTED", "invalid request", {
          status: 400,
          detail: { problems: [problem] },
        }),
      );
    }
    if (error instanceof QuotaStoreUnavailableError) {
      return answer(request, reply, storeUnavailableResponse(error));
    }
    request.log.error({ err: error }, "request failed");
    return answer(request, reply, ociError("UNKNOWN", "internal error"));
  });

  app.get("/metrics", async (request, reply) =>
    answer(request, reply, {
      status: 200,
      headers: { "content-type": registry.metrics.registry.contentType },
      body: await registry.metrics.text(),
    }),
  );

  // Totals, and a page of identities (sorted, `n` per page, after `last`; `identity=KEY` for one):
  // a registry with thousands of clients answers in a page, not in megabytes.
  app.get<{ Querystring: { n?: number; last?: string; identity?: string } }>(
    "/_pullstorm/stats",
    { schema: { querystring: STATS_QUERY } },
    async (request, reply) => {
      const now = registry.clock.now();
      const { n = STATS_PAGE, last, identity } = request.query;
      let keys: string[];
      let next: string | undefined;
      if (identity !== undefined) keys = [identity];
      else {
        const all = registry.stats.identityKeys();
        const from = last === undefined ? 0 : firstAfter(all, last);
        keys = all.slice(from, from + n);
        const lastShown = keys[keys.length - 1];
        if (from + n < all.length && lastShown !== undefined)
          next = `/_pullstorm/stats?n=${n}&last=${encodeURIComponent(lastShown)}`;
      }
      const snapshot = registry.stats.snapshot(keys);
      const byIdentity = new Map<string, unknown>();
      for (const [key, entry] of Object.entries(snapshot.byIdentity)) {
        const quota = await registry.enforcer.quotaOf(identityFor(registry, key, entry.type), now);
        byIdentity.set(key, { ...entry, quota });
      }
      const response = json(200, {
        ...snapshot,
        policy: registry.policy.preset,
        byIdentity: Object.fromEntries(byIdentity),
        ...(next ? { next } : {}),
      });
      if (next) response.headers.link = `<${next}>; rel="next"`;
      return answer(request, reply, response);
    },
  );

  app.get("/_pullstorm/policy", async (request, reply) =>
    answer(request, reply, json(200, { ...registry.policy, presets: Object.keys(PRESETS) })),
  );

  app.put("/_pullstorm/policy", { schema: { body: OBJECT_BODY } }, async (request, reply) => {
    const parsed = parsePolicyDocument(
      request.body,
      registry.policy.preset.replace(/\+custom$/, ""),
    );
    // A policy that no longer names an account's plan would leave that account unlimited.
    const unknownPlans = "errors" in parsed ? [] : registry.unknownPlans(parsed);
    const policy = unknownPlans.length > 0 ? { errors: unknownPlans } : parsed;
    if ("errors" in policy) {
      const invalid = ociError("UNSUPPORTED", "invalid policy", {
        status: 400,
        detail: { problems: policy.errors },
      });
      return answer(request, reply, invalid);
    }
    registry.policy = policy;
    return answer(request, reply, json(200, policy));
  });

  app.post("/_pullstorm/reset", async (request, reply) => {
    await registry.reset();
    return answer(request, reply, json(200, { reset: true }));
  });

  app.get("/_pullstorm/faults", async (request, reply) => {
    const faults = faultControl(registry);
    return answer(request, reply, faults ? json(200, faults.list()) : NO_FAULT_LAYER());
  });

  app.post("/_pullstorm/faults", { schema: { body: OBJECT_BODY } }, async (request, reply) => {
    const faults = faultControl(registry);
    if (!faults) return answer(request, reply, NO_FAULT_LAYER());
    const added = faults.add(request.body);
    if (!added.ok) {
      const invalid = ociError("UNSUPPORTED", "invalid fault", {
        status: 400,
        detail: { problems: added.errors },
      });
      return answer(request, reply, invalid);
    }
    return answer(request, reply, json(201, added.fault));
  });

  app.delete("/_pullstorm/faults", async (request, reply) => {
    const faults = faultControl(registry);
    if (!faults) return answer(request, reply, NO_FAULT_LAYER());
    faults.clear();
    return answer(request, reply, json(200, { cleared: true }));
  });

  app.delete<{ Params: { id: string } }>(
    "/_pullstorm/faults/:id",
    { schema: { params: FAULT_ID_PARAMS } },
    async (request, reply) => {
      const faults = faultControl(registry);
      if (!faults) return answer(request, reply, NO_FAULT_LAYER());
      const { id } = request.params;
      const removed = faults.remove(id)
        ? json(200, { removed: id })
        : ociError("UNSUPPORTED", `no fault with id "${id.slice(0, 40)}"`, { status: 404 });
      return answer(request, reply, removed);
    },
  );

  // Anything else under the control prefix (and /metrics with another method) is named, not passed to the registry.
  const notControl = async (request: FastifyRequest, reply: FastifyReply) => {
    const path = (request.raw.url ?? "").split("?")[0] ?? "";
    const unknown = ociError(
      "UNSUPPORTED",
      `${request.method.slice(0, 20)} ${path.slice(0, 200)} is not a control endpoint`,
      { status: 404 },
    );
    return answer(request, reply, unknown);
  };
  app.route({ method: [...ALL_METHODS], url: "/_pullstorm/*", handler: notControl });
  app.route({
    method: ALL_METHODS.filter((m) => m !== "GET"),
    url: "/metrics",
    handler: notControl,
  });
}

/**
 * Why a control request is refused (the answer to send), or undefined when it
 * may proceed. Also the live console's check for its controls (dashboard/server.ts).
 */
export function controlRefusal(
  request: FastifyRequest,
  token: string | undefined,
  hosts: ReadonlySet<string>,
): RegistryResponse | undefined {
  if (token !== undefined) {
    if (!presents(request.headers.authorization, token))
      return ociError(
        "DENIED",
        "this registry has a control token: control endpoints answer callers presenting it (Authorization: Bearer <token>)",
      );
  } else if (!isLoopback(clientIp(request.socket.remoteAddress))) {
    return ociError(
      "DENIED",
      "control endpoints answer loopback callers, or callers presenting the control token (registry serve --control-token)",
    );
  }
  const host = hostName(request.headers.host);
  if (host === undefined || !servedHost(host, request.socket.localAddress, hosts))
    return ociError(
      "DENIED",
      `Host ${JSON.stringify((request.headers.host ?? "").slice(0, 100))} is not an address this registry serves (registry serve --control-host NAME adds one)`,
    );
  const origin = request.headers.origin;
  if (origin !== undefined && !sameOrigin(origin, request.headers.host ?? ""))
    return ociError(
      "DENIED",
      `requests from ${JSON.stringify(origin.slice(0, 100))} may not use control endpoints (foreign Origin)`,
    );
  const type = request.headers["content-type"];
  const length = request.headers["content-length"];
  const body =
    request.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0");
  if ((body || type !== undefined) && !isJson(type))
    return ociError("UNSUPPORTED", "control bodies are JSON: Content-Type: application/json", {
      status: 415,
    });
  return undefined;
}

/** Whether an Authorization header presents the token (scheme case-insensitive, compared in constant time). */
function presents(header: string | undefined, token: string): boolean {
  const match = /^bearer +(.+)$/i.exec(header?.trim() ?? "");
  if (!match) return false;
  const given = Buffer.from(match[1] as string);
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** `application/json`, with parameters or not (`; charset=utf-8`). */
function isJson(type: string | undefined): boolean {
  return (type?.split(";")[0]?.trim().toLowerCase() ?? "") === "application/json";
}

/** The host of a Host header, lower-cased, without port and brackets; undefined when it is not one. */
function hostName(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+))(?::\d{1,5})?$/.exec(header);
  return m ? (m[1] ?? m[2] ?? "").toLowerCase() : undefined;
}

/**
 * Whether a Host names this registry: the address the connection arrived at,
 * any loopback address or `localhost` when it arrived on loopback (or the
 * address is unknown, as in-process), or a configured name.
 */
function servedHost(
  host: string,
  localAddress: string | undefined,
  hosts: ReadonlySet<string>,
): boolean {
  if (hosts.has(host)) return true;
  const local = localAddress ? clientIp(localAddress) : undefined;
  if (local !== undefined && host === local.toLowerCase()) return true;
  const onLoopback = local === undefined || isLoopback(local);
  return onLoopback && (host === "localhost" || (isIP(host) !== 0 && isLoopback(host)));
}

/** Whether an Origin is the registry's own: `http://` plus the Host the request was sent to. */
function sameOrigin(origin: string, host: string): boolean {
  return origin.toLowerCase() === `http://${host.toLowerCase()}`;
}

function anonymous(ip: string): Identity {
  return { type: "anonymous", key: ip, ip };
}

function identityFor(registry: Registry, key: string, type: Identity["type"]): Identity {
  if (type === "anonymous") return { type, key, ip: key };
  const account = registry.account(key);
  return {
    type,
    key,
    ip: "",
    plan: account?.plan ?? "free",
    ...(account?.org ? { org: account.org } : {}),
  };
}
