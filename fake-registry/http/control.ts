/**
 * Game-day control as a Fastify plugin: inspect and swap the policy, add and
 * remove faults, reset counters, read stats and Prometheus metrics. It sits
 * beside the registry core, not in it: only a served registry has it (the
 * simulator's in-process transport never asks). Loopback clients only, unless
 * the registry has a control token and the request presents it. Answers are
 * OCI-shaped like the registry's, and counted in its stats as kind `other`.
 */
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

  app.addHook("onRequest", async (request, reply) => {
    const presented = request.headers.authorization === `Bearer ${registry.controlToken}`;
    if (
      !isLoopback(clientIp(request.socket.remoteAddress)) &&
      !(registry.controlToken && presented)
    ) {
      const denied = ociError(
        "DENIED",
        "control endpoints answer loopback clients, or a client presenting the control token",
      );
      return answer(request, reply, denied);
    }
  });

  // The server reads bodies as text (only the token POST takes one); control bodies are JSON, whatever their type.
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

  app.get("/_pullstorm/stats", async (request, reply) => {
    const now = registry.clock.now();
    const snapshot = registry.stats.snapshot();
    const quota: Record<string, unknown> = {};
    for (const [key, entry] of Object.entries(snapshot.byIdentity)) {
      quota[key] = await registry.enforcer.quotaOf(identityFor(registry, key, entry.type), now);
    }
    return answer(
      request,
      reply,
      json(200, {
        ...snapshot,
        policy: registry.policy.preset,
        byIdentity: Object.fromEntries(
          Object.entries(snapshot.byIdentity).map(([k, v]) => [k, { ...v, quota: quota[k] }]),
        ),
      }),
    );
  });

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
