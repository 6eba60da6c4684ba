/**
 * Token scopes as in distribution's token spec: `repository:<name>:<actions>`.
 * The name may itself hold ':' in theory, so the type is the first field and the
 * actions the last.
 */
export interface Access {
  type: string;
  name: string;
  actions: string[];
  /** Docker Hub puts the requester's pull limit here. */
  parameters?: Record<string, string>;
}

export function parseScope(scope: string): Access | undefined {
  const first = scope.indexOf(":");
  const last = scope.lastIndexOf(":");
  if (first <= 0 || last === first) return undefined;
  const actions = scope
    .slice(last + 1)
    .split(",")
    .filter((a) => a.length > 0);
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions };
}
