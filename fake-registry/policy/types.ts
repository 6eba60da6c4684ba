import type { EndpointKind } from "../core/types.ts";

/** How a limit's window is counted. */
export type Algorithm = "rolling" | "fixed" | "gcra";

export interface Limit {
  /** Requests (cost units) admitted per window. */
  limit: number;
  /** Window length in ms of registry time (for gcra: the period `limit` spreads over). */
  windowMs: number;
  algorithm: Algorithm;
  /** gcra only: extra requests allowed at once above the steady rate (nginx `burst`). */
  burst?: number;
}

/**
 * How a rule recognises what it counts. `request` (the default): every
 * matching request costs `cost`. `docker-pull` (manifest GETs only): Docker
 * Hub's pull, "up to two GET requests on registry manifest URLs", one pull for
 * each different architecture: a GET of an index (manifest list) costs `cost`
 * and opens a pull; the first platform-manifest GET of that image by the same
 * subject within `withinMs` of the index GET joins that pull and costs nothing;
 * every other manifest GET (a further architecture, the same one again, a
 * platform manifest long after its index, a single-arch image) costs `cost`.
 */
export type CountAs = "request" | "docker-pull";

/** What a rule counts: an endpoint kind and method, at a cost (Docker Hub: manifest GET 1, HEAD 0). */
export interface CountSpec {
  kind: EndpointKind | "*";
  method: string | "*";
  cost: number;
  /** How a pull is recognised (absent: `request`, each matching request costs `cost`). */
  as?: CountAs;
  /** `docker-pull`: how long after an index GET its platform manifest GET joins the pull (ms of registry time). */
  withinMs?: number;
}

/** Default `within` of a `docker-pull` count: a client fetches the platform manifest right after the index. */
export const DOCKER_PULL_WITHIN_MS = 5 * 60_000;

/**
 * What a manifest request asked for, as the registry's catalog knows it
 * (absent: the manifest does not exist, or it was not a manifest request).
 */
export interface ManifestFacts {
  /** `index`: a manifest list; `platform`: one architecture's manifest under an index; `single`: a single-arch image's manifest. */
  role: "index" | "platform" | "single";
  /** The image build the document belongs to (`name:tag@generation`): a platform manifest names its index's. */
  image: string;
  /** A platform manifest's platform (`linux/arm64/v8`). */
  platform?: string;
}

/** Who a rule counts against. `global` counts everyone together (a project-wide quota). */
export type Subject = "ip" | "account" | "org" | "token" | "global";

/** Which layer says no: each shows up differently to clients and in reports. */
export type Layer = "edge" | "abuse" | "token" | "registry";

export type RefusalShape =
  | {
      type: "oci";
      status: number;
      code: string;
      /** Message for anonymous clients; `{user}`, `{limit}`, `{window}`, `{retryAfter}` are filled in. */
      anonymous: string;
      /** Message for accounts. */
      account: string;
    }
  | { type: "text" | "html"; status: number; body: string };

export interface QuotaRule {
  name: string;
  layer: Layer;
  counts: CountSpec[];
  /** Who anonymous requests are counted against (ip: IPv4 address or IPv6 /64). */
  anonymousBy: Subject;
  /** Who authenticated requests are counted against. */
  authenticatedBy: Subject;
  /** Limits by plan: `anonymous` for anonymous clients, then account plans; `default` catches the rest. Absent: not limited. */
  limits: Record<string, Limit | "unlimited">;
  /** Send ratelimit-limit / ratelimit-remaining / docker-ratelimit-source on manifest GET and HEAD. */
  headers: boolean;
  /** Send Retry-After on refusals. */
  retryAfter: boolean;
  /** Fixed Retry-After seconds instead of the computed wait (Docker's HAP429 says 60). */
  retryAfterSeconds?: number;
  refusal: RefusalShape;
  /** Past `after` requests in one window, refuse everything from the subject for `forMs` (Cloud Armor ban). */
  ban?: { after: number; windowMs: number; forMs: number };
  /** Where the numbers come from. */
  source?: string;
}

/** Under load, answer DENIED instead of 429 (docker/hub-feedback #2246). */
export interface MisleadingErrors {
  /** Counted requests per second of registry time above which refusals turn misleading. */
  aboveRps: number;
  status: 401 | 403;
  /** Chance that a request past the threshold is denied (1 = all). */
  probability: number;
}

/** Failed logins at the token service lock out the username and the IP (docker/hub-feedback #2201). */
export interface LoginLockout {
  attempts: number;
  windowMs: number;
  lockMs: number;
}

export interface Policy {
  /** The preset this policy came from, or "custom". */
  preset: string;
  description: string;
  rules: QuotaRule[];
  misleading?: MisleadingErrors;
  lockout?: LoginLockout;
  /** Added latency at the token service, ms (wall time). */
  tokenLatencyMs?: number;
  /** Put `pull_limit` / `pull_limit_interval` into anonymous tokens from the rule with headers. */
  tokenLimitParameters: boolean;
  sources: string[];
}
