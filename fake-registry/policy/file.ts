import { z } from "zod";
import { durationSchema } from "../../vocabulary/config/schemas.ts";
import { suggestion } from "../../vocabulary/config/suggest.ts";
import { parseDuration } from "../../vocabulary/config/units.ts";
import { ConfigError, loadYamlFile } from "../../vocabulary/config/yaml-file.ts";
import { PLAN_RE } from "../auth/users.ts";
import { PRESETS, preset as presetNamed } from "./presets.ts";
import {
  type CountSpec,
  DOCKER_PULL_WITHIN_MS,
  type Limit,
  type Policy,
  type QuotaRule,
} from "./types.ts";

const duration = durationSchema({ positive: true });
const KINDS = ["ping", "token", "manifest", "blob", "tags", "referrers", "catalog", "*"] as const;
const SUBJECTS = ["ip", "account", "org", "token", "global"] as const;

const limitObject = z
  .object({
    limit: z.number().int().min(0),
    window: duration,
    algorithm: z.enum(["rolling", "fixed", "gcra"]).default("rolling"),
    burst: z.number().int().min(0).optional(),
  })
  .strict()
  .transform(
    (l): Limit => ({
      limit: l.limit,
      windowMs: l.window,
      algorithm: l.algorithm,
      ...(l.burst !== undefined ? { burst: l.burst } : {}),
    }),
  );

/** "unlimited" or a limit object; problems inside the object keep their own field paths. */
const limitSchema = z.unknown().transform((value, ctx): Limit | "unlimited" => {
  if (value === "unlimited") return value;
  const parsed = limitObject.safeParse(value);
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues) {
    ctx.addIssue({
      code: "custom",
      message:
        typeof value === "object" && value !== null
          ? issue.message
          : 'a limit is "unlimited" or {limit, window, algorithm}',
      path: issue.path as PropertyKey[],
    });
  }
  return z.NEVER;
});

/** One `counts` entry: what a rule counts and how a pull is recognised (types.ts CountAs). */
const countSchema = z
  .object({
    kind: z.enum(KINDS),
    method: z.string().default("*"),
    cost: z.number().int().min(0).default(1),
    as: z.enum(["request", "docker-pull"]).default("request"),
    within: duration.optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.as === "docker-pull" && (c.kind !== "manifest" || c.method !== "GET"))
      ctx.addIssue({
        code: "custom",
        path: ["as"],
        message:
          "as: docker-pull recognises pulls among manifest GETs: it needs kind: manifest and method: GET (HEADs never count)",
      });
    if (c.within !== undefined && c.as !== "docker-pull")
      ctx.addIssue({
        code: "custom",
        path: ["within"],
        message:
          "within is how long a platform manifest GET joins its index's pull: only with as: docker-pull",
      });
  })
  .transform(
    (c): CountSpec => ({
      kind: c.kind,
      method: c.method,
      cost: c.cost,
      ...(c.as === "docker-pull" ? { as: c.as, withinMs: c.within ?? DOCKER_PULL_WITHIN_MS } : {}),
    }),
  );

const refusalSchema = z.discriminatedUnion("type", [
  z
    .object({
      type: z.literal("oci"),
      status: z.number().int().min(400).max(599).default(429),
      code: z.string().default("TOOMANYREQUESTS"),
      anonymous: z.string(),
      account: z.string(),
    })
    .strict(),
  z
    .object({
      type: z.enum(["text", "html"]),
      status: z.number().int().min(400).max(599).default(429),
      body: z.string(),
    })
    .strict(),
]);

/** A key of `limits`: a plan name, `anonymous` or `default` (so never `__proto__`). */
const PLAN_KEY_MESSAGE = "plan names are lower-case letters, digits and '-'";
const planKey = z.string().regex(PLAN_RE, PLAN_KEY_MESSAGE);
/** zod names a bad record key "Invalid key in record": say which names are allowed instead. */
const keyError = (message: string) => ({
  error: (issue: { code?: string }) => (issue.code === "invalid_key" ? message : undefined),
});
const RULE_NAME_MESSAGE = "rule names are lower-case letters, digits and '-'";
const ruleName = z.string().regex(/^[a-z0-9-]+$/, RULE_NAME_MESSAGE);

const ruleSchema = z
  .object({
    name: ruleName,
    layer: z.enum(["edge", "abuse", "token", "registry"]).default("registry"),
    counts: z.array(countSchema).min(1),
    anonymousBy: z.enum(SUBJECTS).default("ip"),
    authenticatedBy: z.enum(SUBJECTS).default("account"),
    limits: z.record(planKey, limitSchema, keyError(PLAN_KEY_MESSAGE)),
    headers: z.boolean().default(false),
    retryAfter: z.boolean().default(false),
    retryAfterSeconds: z.number().int().min(0).optional(),
    refusal: refusalSchema,
    ban: z
      .object({ after: z.number().int().min(1), window: duration, for: duration })
      .strict()
      .optional(),
    source: z.string().optional(),
  })
  .strict()
  .transform((r): QuotaRule => {
    const { ban, retryAfterSeconds, source, ...rest } = r;
    return {
      ...rest,
      ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
      ...(source !== undefined ? { source } : {}),
      ...(ban ? { ban: { after: ban.after, windowMs: ban.window, forMs: ban.for } } : {}),
    };
  });

/**
 * Where a document holds an own `__proto__` key (JSON.parse and YAML make
 * one; zod would drop it without a word): named as a problem instead.
 */
function protoKeys(
  value: unknown,
  path: (string | number)[] = [],
  found: (string | number)[][] = [],
) {
  if (typeof value !== "object" || value === null || found.length >= 10) return found;
  for (const key of Object.keys(value)) {
    if (key === "__proto__") found.push([...path, key]);
    else protoKeys((value as Record<string, unknown>)[key], [...path, key], found);
  }
  return found;
}

/** A preset's name: an unknown one is refused with the list and the nearest name. */
export const presetNameSchema = z.string().superRefine((p, ctx) => {
  if (Object.hasOwn(PRESETS, p)) return;
  ctx.addIssue({
    code: "custom",
    message: `unknown preset "${p}"${suggestion(p, Object.keys(PRESETS))} (presets: ${Object.keys(PRESETS).join(", ")})`,
  });
});

/** A policy file, or the body of `PUT /_pullstorm/policy`: a preset, optionally changed. */
export const policySchema = z
  .object({
    preset: presetNameSchema.optional(),
    description: z.string().optional(),
    rules: z.array(ruleSchema).optional(),
    limits: z
      .record(
        ruleName,
        z.record(planKey, limitSchema, keyError(PLAN_KEY_MESSAGE)),
        keyError(RULE_NAME_MESSAGE),
      )
      .optional(),
    retryAfter: z.record(ruleName, z.boolean(), keyError(RULE_NAME_MESSAGE)).optional(),
    misleading: z
      .object({
        aboveRps: z.number().min(0),
        status: z.union([z.literal(401), z.literal(403)]).default(403),
        probability: z.number().min(0).max(1).default(0),
      })
      .strict()
      .optional(),
    lockout: z
      .object({ attempts: z.number().int().min(1), window: duration, lock: duration })
      .strict()
      .optional(),
    tokenLatency: z.union([z.string(), z.number()]).optional(),
    tokenLimitParameters: z.boolean().optional(),
  })
  .strict();

/** policySchema, and no `__proto__` key anywhere (files and control bodies). */
const policyDocument = z
  .unknown()
  .superRefine((value, ctx) => {
    for (const path of protoKeys(value))
      ctx.addIssue({
        code: "custom",
        path,
        message: "__proto__ is not a name a policy can use (plan, rule or field)",
      });
  })
  .pipe(policySchema);

export type PolicyInput = z.output<typeof policySchema>;

/** Applies a policy document to its preset (or the default), returning the policy or problems naming fields. */
export function buildPolicy(
  input: PolicyInput,
  fallbackPreset: string,
): Policy | { errors: string[] } {
  const base = presetNamed(input.preset ?? fallbackPreset);
  if (!base) return { errors: [`preset: unknown preset "${input.preset}"`] };
  const policy: Policy = {
    ...base,
    preset: input.rules || input.limits || input.retryAfter ? `${base.preset}+custom` : base.preset,
  };
  const errors: string[] = [];
  if (input.description) policy.description = input.description;
  if (input.rules) policy.rules = input.rules;
  for (const [ruleName, limits] of Object.entries(input.limits ?? {})) {
    const rule = policy.rules.find((r) => r.name === ruleName);
    if (!rule)
      errors.push(
        `limits.${ruleName}: no rule named "${ruleName}" (rules: ${policy.rules.map((r) => r.name).join(", ")})`,
      );
    else rule.limits = { ...rule.limits, ...limits };
  }
  for (const [ruleName, on] of Object.entries(input.retryAfter ?? {})) {
    const rule = policy.rules.find((r) => r.name === ruleName);
    if (!rule) errors.push(`retryAfter.${ruleName}: no rule named "${ruleName}"`);
    else rule.retryAfter = on;
  }
  if (input.misleading) policy.misleading = input.misleading;
  if (input.lockout)
    policy.lockout = {
      attempts: input.lockout.attempts,
      windowMs: input.lockout.window,
      lockMs: input.lockout.lock,
    };
  if (input.tokenLatency !== undefined) {
    const ms = parseDuration(input.tokenLatency);
    if (typeof ms === "number") policy.tokenLatencyMs = ms;
    else errors.push(`tokenLatency: ${ms.error}`);
  }
  if (input.tokenLimitParameters !== undefined)
    policy.tokenLimitParameters = input.tokenLimitParameters;
  return errors.length > 0 ? { errors } : policy;
}

/** Reads and validates a policy file; problems name file, line and field. */
export function loadPolicyFile(file: string, fallbackPreset: string): Policy {
  const input = loadYamlFile(file, policyDocument);
  const built = buildPolicy(input, fallbackPreset);
  if ("errors" in built) throw new ConfigError(built.errors.map((e) => `${file}: ${e}`));
  return built;
}

/** Validates a policy document from the control API (JSON); problems name the field. */
export function parsePolicyDocument(
  value: unknown,
  fallbackPreset: string,
): Policy | { errors: string[] } {
  const parsed = policyDocument.safeParse(value);
  if (!parsed.success) {
    return {
      errors: parsed.error.issues.map((i) => `${i.path.join(".") || "(top level)"}: ${i.message}`),
    };
  }
  return buildPolicy(parsed.data, fallbackPreset);
}
