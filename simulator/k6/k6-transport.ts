import http from "k6/http";
import { kindOf } from "../client/wire.ts";
import type {
  NetworkError,
  OutboundRequest,
  Outcome,
  Transport,
} from "../engine/transport-types.ts";

/**
 * The Transport of the exported k6 script: each request is k6's
 * `http.asyncRequest`, tagged with the logical host and the endpoint kind.
 * The source address is not the transport's to choose: k6 gives each VU one of
 * `--local-ips` (the command `pullstorm k6 export` prints lists the design's
 * egress addresses), so `egressIp` is ignored here and the script names the
 * VU's address as the identity instead (./k6-entry.ts).
 */
export class K6Transport implements Transport {
  private readonly bases: Record<string, string>;
  private readonly timeout: string;

  constructor(bases: Record<string, string>, timeoutMs = 30_000) {
    this.bases = {};
    for (const [host, url] of Object.entries(bases))
      if (url) this.bases[host] = url.replace(/\/+$/, "");
    this.timeout = `${timeoutMs}ms`;
  }

  async send(req: OutboundRequest, _egressIp: string): Promise<Outcome> {
    const base = this.bases[req.host];
    if (!base) return { status: 0, error: "refused", message: `no host ${req.host}` };
    const kind = kindOf(req.path);
    const res = await http.asyncRequest(req.method, `${base}${req.path}`, req.body ?? null, {
      headers: req.headers,
      tags: { host: req.host, kind, name: `${req.host} ${kind}` },
      redirects: 0,
      timeout: this.timeout,
      responseType: req.method === "HEAD" ? "none" : "binary",
    });
    if (res.status === 0)
      return { status: 0, error: networkKind(res.error_code, res.error), message: res.error };
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers ?? {})) headers[k.toLowerCase()] = String(v);
    const body: unknown = res.body;
    return {
      status: res.status,
      headers,
      body: body instanceof ArrayBuffer ? Buffer.from(body) : Buffer.alloc(0),
    };
  }
}

/** k6's error codes (and messages) as the client's network errors. */
export function networkKind(code: number, message: string): NetworkError["error"] {
  if (code === 1050 || code === 1211 || /timeout|deadline/i.test(message)) return "timeout";
  if (code === 1212 || /refused/i.test(message)) return "refused";
  if (code === 1201 || code === 1220 || /reset|EOF|broken pipe/i.test(message)) return "reset";
  return "error";
}
