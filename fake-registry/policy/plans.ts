import { didYouMean } from "../../vocabulary/config/suggest.ts";
import type { Policy } from "./types.ts";

/** Limit keys that are not plans: anonymous clients, and the catch-all. */
const NOT_PLANS = new Set(["anonymous", "default"]);

/** The account plans a policy names in any rule's limits (anonymous and default are not plans). */
export function policyPlans(policy: Policy): string[] {
  const plans = new Set<string>();
  for (const rule of policy.rules)
    for (const key of Object.keys(rule.limits)) if (!NOT_PLANS.has(key)) plans.add(key);
  return [...plans].sort();
}

/**
 * Why an account of this plan cannot be used with the policy, or undefined when
 * it can. A plan no rule names would be limited only by the rules with a
 * `default` (a rule that lists plans but not this one and has no default does
 * not limit it at all): a typo such as `freee` would silently make the account
 * unlimited. So a plan must be one the policy names, unless the policy names
 * none (every account then falls to `default`).
 */
export function planProblem(policy: Policy, plan: string): string | undefined {
  const plans = policyPlans(policy);
  if (plans.length === 0 || plans.includes(plan)) return undefined;
  const near = didYouMean(plan, plans);
  return `unknown plan "${plan}"${near ? `; did you mean ${near}?` : ""} (the ${policy.preset} policy's plans: ${plans.join(", ")})`;
}
