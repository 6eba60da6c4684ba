import { z } from "zod";
import { formatDuration } from "../../vocabulary/config/units.ts";
import type { EndpointKind } from "../core/types.ts";
import { FAULT_TYPES } from "./kinds.ts";
import { duration } from "./params.ts";
import type { Fault, FaultScope, FaultSpecFields } from "./types.ts";

/** A record, so that a kind added to EndpointKind and missing here fails the type check. */
const KINDS: Record<EndpointKind, true> = {
  ping: true,
  token: true,
  manifest: true,
  blob: true,
  tags: true,
  referrers: true,
  catalog: true,
  push: true,
  other: true,
};
export const ENDPOINT_KINDS = Object.keys(KINDS) as [EndpointKind, ...EndpointKind[]];

const list = (field: string) =>
  z
    .array(z.string().min(1))
    .min(1, `an empty list matches nothing; leave ${field} out to match every request`);

/** Fields every fault has, whatever its type. */
const common = {
  id: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "1 to 64 letters, digits, '.', '_' or '-'")
    .optional(),
  probability: z.number().min(0).max(1).default(1),
  scope: z
    .object({
      kinds: z
        .array(z.enum(ENDPOINT_KINDS))
        .min(1, "an empty list matches nothing; leave kinds out to match every request")
        .optional(),
      repositories: list("repositories").optional(),
      identities: list("identities").optional(),
    })
    .strict()
    .optional(),
  schedule: z
    .object({ start: duration.optional(), duration: duration.optional() })
    .strict()
    .optional(),
};
const COMMON_KEYS = new Set(["type", ...Object.keys(common)]);

const SCHEMAS = new Map(
  FAULT_TYPES.map((t) => [
    t.type,
    {
      type: t,
      schema: z.object({ ...common, type: z.literal(t.type), ...t.params.shape }).strict(),
    },
  ]),
);

/** A validated spec, ready to be placed in a fault set. */
export interface CompiledFault {
  /** The id the spec asked for, if any. */
  id: string | undefined;
  /** Normalized spec (id filled in by the fault set). */
  spec: FaultSpecFields;
  fault: Fault;
  probability: number;
  scope: FaultScope | undefined;
  /** Schedule window in registry ms since start-up: [startMs, endMs). */
  startMs: number;
  endMs: number;
}

export type CompileResult = { ok: true; compiled: CompiledFault } | { ok: false; errors: string[] };

/**
 * Validates a fault spec (parsed JSON or YAML) and builds the fault. Errors name
 * the field (`scope.kinds.0: ...`) and never throw.
 */
export function compileFault(input: unknown): CompileResult {
  const known = FAULT_TYPES.map((t) => t.type).join(", ");
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    return {
      ok: false,
      errors: [
        `(top level): a fault spec is an object with a type, e.g. {"type": "latency", "ms": 200}`,
      ],
    };
  }
  const raw = input as Record<string, unknown>;
  if (typeof raw.type !== "string") {
    return { ok: false, errors: [`type: required; one of ${known}`] };
  }
  const entry = SCHEMAS.get(raw.type);
  if (!entry) {
    return { ok: false, errors: [`type: unknown fault type "${raw.type}"; one of ${known}`] };
  }
  const parsed = entry.schema.safeParse(raw);
  if (!parsed.success)
    return { ok: false, errors: parsed.error.issues.flatMap((i) => describe(i, raw)) };

  const { id, probability, scope, schedule, type: _type, ...params } = parsed.data;
  const startMs = schedule?.start ?? 0;
  const endMs =
    schedule?.duration === undefined ? Number.POSITIVE_INFINITY : startMs + schedule.duration;
  const spec: FaultSpecFields = { type: entry.type.type, probability };
  if (scope) spec.scope = scope;
  if (schedule) {
    spec.schedule =
      schedule.duration === undefined
        ? { start: formatDuration(startMs) }
        : { start: formatDuration(startMs), duration: formatDuration(schedule.duration) };
  }
  // Parameters as given (so a listed spec can be posted again), defaults filled in.
  for (const key of Object.keys(params))
    spec[key] = Object.hasOwn(raw, key) ? raw[key] : params[key as keyof typeof params];
  return {
    ok: true,
    compiled: {
      id,
      spec,
      fault: entry.type.create(params),
      probability,
      scope,
      startMs,
      endMs,
    },
  };
}

function describe(issue: z.core.$ZodIssue, input: Record<string, unknown>): string[] {
  const path = issue.path.map((p) => (typeof p === "symbol" ? String(p) : p));
  const at = (p: PropertyKey[]) => (p.length > 0 ? p.join(".") : "(top level)");
  if (issue.code === "unrecognized_keys") {
    const fields =
      path.length === 0
        ? [...COMMON_KEYS, ...Object.keys(SCHEMAS.get(String(input.type))?.type.params.shape ?? {})]
        : undefined;
    return issue.keys.map(
      (key) =>
        `${at([...path, key])}: unknown field${fields ? `; ${String(input.type)} faults take ${fields.join(", ")}` : ""}`,
    );
  }
  let value: unknown = input;
  for (const p of path) value = (value as Record<PropertyKey, unknown> | undefined)?.[p];
  return [`${at(path)}: ${value === undefined ? "required" : issue.message}`];
}
