/** The registry core speaks in plain values so that any transport (Fastify, or the simulator's in-process calls) can drive it. */

export type { EndpointKind } from "../../vocabulary/oci/endpoints.ts";

export interface RegistryRequest {
  method: string;
  /** Path without the query string, exactly as received (still percent-encoded). */
  path: string;
  query: URLSearchParams;
  /** Header names lower-cased. */
  headers: Record<string, string | undefined>;
  /** Raw request body, read only where an endpoint takes one (the OAuth2 token POST). */
  body?: string;
  /**
   * The address and port the request arrived at (`127.0.0.1:5000`, IPv6 in
   * brackets), for answers that must name the registry when the Host header
   * does not (the token realm). Absent in-process.
   */
  local?: string;
}

export interface ClientInfo {
  /** Source address of the connection, IPv4 in dotted form (IPv4-mapped IPv6 unwrapped). */
  ip: string;
}

export type ResponseBody = Buffer | string | undefined;

export interface RegistryResponse {
  status: number;
  headers: Record<string, string>;
  body?: ResponseBody;
  /** Transport behaviour injected by faults (delay, bandwidth, reset, hang). */
  effects?: TransportEffects;
}

/**
 * What the transport must do beyond sending the response, set by faults (and
 * the policy's token latency). Each effect is carried out by one module in
 * ../faults/effects/, live on the socket and virtually in simulated time.
 */
export interface TransportEffects {
  /** Wait this long (wall ms) before answering. */
  delayMs?: number;
  /** Send the body no faster than this (per connection). */
  bytesPerSecond?: number;
  /** Reset the connection instead of answering (after any delay). */
  reset?: boolean;
  /** Never answer: hold the connection until the client gives up (bounded by the server). */
  hang?: boolean;
  /** With `hang`: close the connection unanswered after this long (wall ms), as a proxy's idle timeout would. */
  hangMs?: number;
}

/** Who a request is counted against: the account when authenticated, otherwise the client address. */
export type Identity =
  | { type: "anonymous"; key: string; ip: string; tokenId?: string }
  | { type: "account"; key: string; ip: string; plan: string; org?: string; tokenId?: string };
