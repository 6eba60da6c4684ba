/**
 * The Transport interface and what crosses it: a request to a logical host, an
 * answer or a failure below HTTP. Pure (no Node built-ins), so every client can
 * be bundled for k6 (simulator/k6/bundle.ts); the transports themselves are in
 * transport.ts (Node) and simulator/k6/k6-transport.ts (k6).
 */

/** A request as a client model sends it, to a logical host ("registry", "mirror"). */
export interface OutboundRequest {
  host: string;
  method: "GET" | "HEAD" | "POST";
  /** Path with query string. */
  path: string;
  headers: Record<string, string>;
  body?: string;
}

export interface InboundResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** What went wrong below HTTP: the connection was reset, refused or timed out. */
export interface NetworkError {
  status: 0;
  error: "reset" | "refused" | "timeout" | "error";
  message: string;
}

export type Outcome = InboundResponse | NetworkError;

export function isNetworkError(res: Outcome): res is NetworkError {
  return "error" in res;
}

/** How a client reaches a logical host from one egress address. */
export interface Transport {
  send(req: OutboundRequest, egressIp: string): Promise<Outcome>;
}
