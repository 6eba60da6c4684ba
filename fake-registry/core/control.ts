import { parsePolicyDocument } from "../policy/file.ts";
import { PRESETS } from "../policy/presets.ts";
import { isLoopback } from "../policy/subject.ts";
import { ociError } from "./errors.ts";
import type { Registry } from "./registry.ts";
import type { ClientInfo, Identity, RegistryRequest, RegistryResponse } from "./types.ts";

/** The fault layer's control surface (implemented in ../faults/). */
export interface FaultControl {
  add(spec: unknown): { ok: true; fault: unknown } | { ok: false; errors: string[] };
  remove(id: string): boolean;
  clear(): void;
  list(): unknown[];
}

function json(status: number, value: unknown): RegistryResponse {
  return {
    status,
    headers: { "content-type": "application/json" },
    body: JSON.stringify(value, null, 2),
  };
}

function parseBody(req: RegistryRequest): unknown | RegistryResponse {
  try {
    return JSON.parse(req.body ?? "");
  } catch {
    return ociError("UNSUPPORTED", "the body must be JSON", { status: 400 });
  }
}

function isResponse(value: unknown): value is RegistryResponse {
  return typeof value === "object" && value !== null && "status" in value && "headers" in value;
}

/**
 * Game-day control: inspect and swap the policy, add and remove faults, reset
 * counters, read stats and Prometheus metrics. Loopback clients only, unless the
 * registry has a control token and the request presents it.
 */
export async function handleControl(
  registry: Registry,
  path: string,
  req: RegistryRequest,
  client: ClientInfo,
  now: number,
): Promise<RegistryResponse> {
  const presented = req.headers.authorization === `Bearer ${registry.controlToken}`;
  if (!isLoopback(client.ip) && !(registry.controlToken && presented)) {
    return ociError(
      "DENIED",
      "control endpoints answer loopback clients, or a client presenting the control token",
    );
  }
  const m = req.method;
  if (path === "/metrics" && m === "GET") {
    return {
      status: 200,
      headers: { "content-type": registry.metrics.registry.contentType },
      body: await registry.metrics.text(),
    };
  }
  if (path === "/_pullstorm/stats" && m === "GET") {
    const snapshot = registry.stats.snapshot();
    const quota: Record<string, unknown> = {};
    for (const [key, entry] of Object.entries(snapshot.byIdentity)) {
      quota[key] = await registry.enforcer.quotaOf(identityFor(registry, key, entry.type), now);
    }
    return json(200, {
      ...snapshot,
      policy: registry.policy.preset,
      byIdentity: Object.fromEntries(
        Object.entries(snapshot.byIdentity).map(([k, v]) => [k, { ...v, quota: quota[k] }]),
      ),
    });
  }
  if (path === "/_pullstorm/policy") {
    if (m === "GET") return json(200, { ...registry.policy, presets: Object.keys(PRESETS) });
    if (m === "PUT") {
      const body = parseBody(req);
      if (isResponse(body)) return body;
      const policy = parsePolicyDocument(body, registry.policy.preset.replace(/\+custom$/, ""));
      if ("errors" in policy) {
        return ociError("UNSUPPORTED", "invalid policy", {
          status: 400,
          detail: { problems: policy.errors },
        });
      }
      registry.policy = policy;
      return json(200, policy);
    }
  }
  if (path === "/_pullstorm/reset" && m === "POST") {
    await registry.reset();
    return json(200, { reset: true });
  }
  const faults = registry.faults as unknown as Partial<FaultControl> | undefined;
  if (path === "/_pullstorm/faults" || path.startsWith("/_pullstorm/faults/")) {
    if (!faults?.add || !faults.remove || !faults.clear || !faults.list) {
      return ociError("UNSUPPORTED", "this registry has no fault layer", { status: 404 });
    }
    const id = path.slice("/_pullstorm/faults/".length);
    if (path === "/_pullstorm/faults") {
      if (m === "GET") return json(200, faults.list());
      if (m === "POST") {
        const body = parseBody(req);
        if (isResponse(body)) return body;
        const added = faults.add(body);
        if (!added.ok)
          return ociError("UNSUPPORTED", "invalid fault", {
            status: 400,
            detail: { problems: added.errors },
          });
        return json(201, added.fault);
      }
      if (m === "DELETE") {
        faults.clear();
        return json(200, { cleared: true });
      }
    } else if (m === "DELETE") {
      return faults.remove(id)
        ? json(200, { removed: id })
        : ociError("UNSUPPORTED", `no fault with id "${id.slice(0, 40)}"`, { status: 404 });
    }
  }
  return ociError("UNSUPPORTED", `${m} ${path} is not a control endpoint`, { status: 404 });
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
