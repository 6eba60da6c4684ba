/** Accounts the token service knows: `--user NAME:PASSWORD[:PLAN[:ORG]]`. The plan decides which quota applies. */
export interface Account {
  name: string;
  password: string;
  plan: string;
  /** Organisation, for quotas counted per organisation. */
  org?: string;
}

export const DEFAULT_PLAN = "free";

/** Plan names: lower-case letters, digits and '-' (the keys of a rule's `limits`). */
export const PLAN_RE = /^[a-z0-9][a-z0-9-]{0,63}$/;

/**
 * Why a plan name cannot be an account's plan, or undefined when it can:
 * `anonymous` names the limits of clients without an account, and `default`
 * the limits of plans no rule names.
 */
export function planNameProblem(plan: string): string | undefined {
  if (!PLAN_RE.test(plan))
    return `plan "${plan.slice(0, 64)}" must be lower-case letters, digits or '-' (at most 64)`;
  if (plan === "anonymous" || plan === "default")
    return `plan "${plan}" is reserved: "anonymous" and "default" name limits, not plans`;
  return undefined;
}

export function parseUser(value: string): Account | { error: string } {
  const parts = value.split(":");
  if (parts.length < 2 || parts.length > 4)
    return {
      error: `--user "${value}" must be NAME:PASSWORD, NAME:PASSWORD:PLAN or NAME:PASSWORD:PLAN:ORG`,
    };
  const [name, password, plan, org] = parts as [
    string,
    string,
    string | undefined,
    string | undefined,
  ];
  if (!/^[a-z0-9][a-z0-9._-]{0,63}$/i.test(name))
    return { error: `--user "${value}": the name must be letters, digits, '.', '_' or '-'` };
  if (password.length === 0) return { error: `--user "${value}": the password is empty` };
  const badPlan = plan ? planNameProblem(plan) : undefined;
  if (badPlan) return { error: `--user "${value}": ${badPlan}` };
  if (org !== undefined && !/^[a-z0-9][a-z0-9._-]{0,63}$/i.test(org))
    return {
      error: `--user "${value}": the organisation must be letters, digits, '.', '_' or '-'`,
    };
  return { name, password, plan: plan || DEFAULT_PLAN, ...(org ? { org } : {}) };
}
