/** The shapes the registry's one-concern files share: options, the auth state and what a handled request tells. */
import type { TokenService } from "../auth/token-service.ts";
import type { TokenSigner } from "../auth/tokens.ts";
import type { Account } from "../auth/users.ts";
import type { EndpointKind, Identity, RegistryResponse } from "../core/types.ts";
import type { FaultContext, FaultOutcome } from "../faults/types.ts";
import type { RefusalReason } from "../policy/enforcer.ts";

export interface AuthOptions {
  /** The `service` named in challenges and tokens (Docker Hub: registry.docker.io). */
  service: string;
  accounts: Account[];
  /** HMAC secret for tokens; random per process when absent. */
  secret?: string;
  /** Token lifetime in seconds (Docker Hub: 300). */
  tokenLifetime?: number;
  /** Fixed realm URL; by default derived from the request's Host header. */
  realm?: string;
}

/** Auth as the registry runs it: the options plus the signer and token service built from them. */
export interface Auth extends AuthOptions {
  signer: TokenSigner;
  tokens: TokenService;
}

/** The fault layer as the registry sees it (implemented in ../faults/). */
export interface FaultLayer {
  evaluate(ctx: FaultContext): FaultOutcome | undefined;
  /** How many faults are in force: 0 skips evaluate (absent: always evaluated). */
  readonly size?: number;
}

/** Facts about one handled request, for logs, metrics and events. */
export interface Handled {
  response: RegistryResponse;
  kind: EndpointKind;
  identity: Identity;
  repository?: string;
  /** Which layer said no, when one did. */
  refusal?: { reason: RefusalReason | "fault"; rule: string };
  /** Pulls the pull limit charged this request (policy/enforcer.ts PolicyDecision.pulls); absent: not counted. */
  pulls?: number;
  /** What made the registry answer 500: for the log, never for the client. */
  error?: unknown;
}

/** What one endpoint's handler returns: a handled request without its kind (the pipeline knows it). */
export type Answer = Omit<Handled, "kind">;
