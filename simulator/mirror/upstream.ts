import type { EventSink } from "../../vocabulary/events.ts";
import { AuthState, RegistryClient, Session } from "../client/session.ts";
import type { Credentials } from "../client/wire.ts";
import type { Sim } from "../engine/sim.ts";
import type { Outcome, Transport } from "../engine/transport.ts";
import type { FlavourProfile } from "./flavours.ts";

export type { Answer as UpstreamAnswer, Session } from "../client/session.ts";
export { succeeded } from "../client/session.ts";

/** How the mirror reaches the origin registry. */
export interface UpstreamTarget {
  transport: Transport;
  /** The origin's logical host in the transport ("registry"). */
  host: string;
  /** The mirror's source address: who the origin counts when the mirror is anonymous. */
  egressIp: string;
  /** Proxy credentials (distribution's proxy.username/password), sent as Basic to the token service. */
  credentials?: Credentials;
}

/**
 * The mirror's HTTP client for the origin: one `RegistryClient` (../client/session.ts)
 * with the flavour's proxy quirks (`FlavourProfile.upstream`), every request one
 * RequestEvent. Auth state that outlives a client request (the challenge, kept
 * tokens) lives here; a `Session` holds what lives for one client request.
 */
export class Upstream {
  readonly target: UpstreamTarget;
  private readonly client: RegistryClient;
  private readonly auth = new AuthState();

  constructor(options: {
    target: UpstreamTarget;
    sim: Sim;
    profile: FlavourProfile;
    emit?: EventSink;
    design: string;
  }) {
    this.target = options.target;
    this.client = new RegistryClient({
      transport: options.target.transport,
      sim: options.sim,
      egressIp: options.target.egressIp,
      design: options.design,
      actor: "mirror",
      emit: options.emit,
      credentials: options.target.credentials,
      quirks: options.profile.upstream,
    });
  }

  /** State for one client request on one repository. */
  session(repository: string | undefined): Session {
    const scope = repository ? `repository:${repository}:pull` : undefined;
    return new Session(this.client, this.auth, this.target.host, scope);
  }

  /** The start-up ping distribution does before serving (it does not keep the challenge it sees). */
  async ping(): Promise<Outcome> {
    return this.client.exchange(this.target.host, "GET", "/v2/", {}, "ping");
  }
}
