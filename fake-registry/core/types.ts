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
  effects?: import("../faults/types.ts").TransportEffects;
}

/** Who a request is counted against: the account when authenticated, otherwise the client address. */
export type Identity =
  | { type: "anonymous"; key: string; ip: string; tokenId?: string }
  | { type: "account"; key: string; ip: string; plan: string; org?: string; tokenId?: string };
