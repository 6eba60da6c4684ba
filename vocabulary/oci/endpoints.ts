/** What a request to a registry is for, as the quota rules, stats and events name it. */
export type EndpointKind =
  | "ping"
  | "token"
  | "manifest"
  | "blob"
  | "tags"
  | "referrers"
  | "catalog"
  | "push"
  | "other";
