/** Accounts the token service knows: `--user NAME:PASSWORD[:PLAN]`. The plan decides which quota applies (next layer). */
export interface Account {
  name: string;
  password: string;
  plan: string;
}

export const DEFAULT_PLAN = "free";

export function parseUser(value: string): Account | { error: string } {
  const parts = value.split(":");
  if (parts.length < 2 || parts.length > 3)
    return { error: `--user "${value}" must be NAME:PASSWORD or NAME:PASSWORD:PLAN` };
  const [name, password, plan] = parts as [string, string, string | undefined];
  if (!/^[a-z0-9][a-z0-9._-]{0,63}$/i.test(name))
    return { error: `--user "${value}": the name must be letters, digits, '.', '_' or '-'` };
  if (password.length === 0) return { error: `--user "${value}": the password is empty` };
  if (plan !== undefined && !/^[a-z0-9-]+$/.test(plan))
    return { error: `--user "${value}": the plan must be lower-case letters, digits or '-'` };
  return { name, password, plan: plan ?? DEFAULT_PLAN };
}
