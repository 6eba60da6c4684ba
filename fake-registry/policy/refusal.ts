import type { Identity, RegistryResponse } from "../core/types.ts";
import type { QuotaRule } from "./types.ts";

export interface RefusalFacts {
  identity: Identity;
  rule: QuotaRule;
  limit?: number;
  windowSeconds?: number;
  /** Seconds (wall) until the client may retry. */
  retryAfterSeconds: number;
  wallNow: number;
}

/** The placeholders a refusal template may name, each with its value. */
const PLACEHOLDERS: Array<[string, (facts: RefusalFacts) => string]> = [
  ["{user}", (f) => f.identity.key],
  ["{limit}", (f) => String(f.limit ?? "")],
  ["{window}", (f) => String(f.windowSeconds ?? "")],
  ["{retryAfter}", (f) => String(f.retryAfterSeconds)],
  ["{retryAt}", (f) => new Date(f.wallNow + f.retryAfterSeconds * 1000).toUTCString()],
];

/** The template with its placeholders filled in (a template without any, a fixed body, as it is). */
function fill(template: string, facts: RefusalFacts): string {
  if (!template.includes("{")) return template;
  let out = template;
  for (const [name, value] of PLACEHOLDERS)
    if (out.includes(name)) out = out.replaceAll(name, value(facts));
  return out;
}

/** The response a rule's refusal shape gives: OCI JSON, plain text (HAP429) or an HTML error page. */
export function refusalResponse(facts: RefusalFacts): RegistryResponse {
  const shape = facts.rule.refusal;
  const headers: Record<string, string> = {};
  if (facts.rule.retryAfter) headers["retry-after"] = String(facts.retryAfterSeconds);
  if (shape.type === "oci") {
    const message = fill(
      facts.identity.type === "account" ? shape.account : shape.anonymous,
      facts,
    );
    return {
      status: shape.status,
      headers: { ...headers, "content-type": "application/json" },
      body: JSON.stringify({ errors: [{ code: shape.code, message, detail: null }] }),
    };
  }
  return {
    status: shape.status,
    headers: { ...headers, "content-type": shape.type === "text" ? "text/plain" : "text/html" },
    body: fill(shape.body, facts),
  };
}

export function deniedResponse(status: 401 | 403): RegistryResponse {
  return {
    status,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      errors: [{ code: "DENIED", message: "requested access to the resource is denied" }],
    }),
  };
}
