/** Accounts the token service knows: `--user NAME:PASSWORD[:PLAN[:ORG]]`. The plan decides which quota applies. */
export interface Account {
  name: string;
  password: string;
  plan: string;
  /** Organisation, for quotas counted per organisation. */
  org?: string;
}

export const DEFAULT_PLAN = "free";

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
  if (plan !== undefined && !/^[a-z0-9-]+$/.test(plan))
    return { error: `--user "${value}": the plan must be lower-case letters, digits or '-'` };
  if (org !== undefined && !/^[a-z0-9][a-z0-9._-]{0,63}$/i.test(org))
    return {
      error: `--user "${value}": the organisation must be letters, digits, '.', '_' or '-'`,
    };
  return { name, password, plan: plan || DEFAULT_PLAN, ...(org ? { org } : {}) };
}
