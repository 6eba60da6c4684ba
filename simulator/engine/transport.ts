import { request } from "node:http";
import { NO_QUERY } from "../../fake-registry/core/no-query.ts";
import type { RegistryRequest, TransportEffects } from "../../fake-registry/core/types.ts";
import { openVirtual, virtualTransferMs } from "../../fake-registry/faults/effects/index.ts";
import { shaped } from "./network.ts";
import type { Link } from "./timing.ts";
import type { OutboundRequest, Outcome, Transport } from "./transport-types.ts";

export {
  type InboundResponse,
  isNetworkError,
  type NetworkError,
  type OutboundRequest,
  type Outcome,
  type Transport,
} from "./transport-types.ts";

/** Something that answers requests in-process (the registry core, a mirror model). */
export interface InProcessHandler {
  handle(
    req: RegistryRequest,
    client: { ip: string },
  ): Promise<{
    response: {
      status: number;
      headers: Record<string, string>;
      body?: Buffer | string;
      effects?: TransportEffects;
    };
  }>;
}

/**
 * How long a client waits with nothing received before giving up (a hang, or
 * a delay this long, ends in this): the HttpTransport's default too.
 */
export const CLIENT_TIMEOUT_MS = 30_000;

/**
 * Virtual mode: no sockets; the handler is called directly, in simulated time.
 * Fault effects are carried out by their virtual executors
 * (fake-registry/faults/effects/), the twins of what the live server does.
 */
export class InProcessTransport implements Transport {
  private readonly hosts: Map<string, InProcessHandler>;
  private readonly sleep: ((ms: number) => Promise<void>) | undefined;
  private readonly timeoutMs: number;
  /**
   * `network`: one link between the client and every host (./timing.ts; its
   * time is carried out as the answer's transport effects, as a served host
   * wrapped in `shaped` has them). Default none: requests are instantaneous.
   * Hosts already wrapped in `shaped` need none here. `timeoutMs`: the
   * client's timeout, as HttpTransport's.
   */
  constructor(
    hosts: Record<string, InProcessHandler>,
    sim?: { sleep(ms: number): Promise<void> },
    network?: Partial<Link> & Pick<Link, "rttMs" | "bytesPerSecond">,
    options: { timeoutMs?: number } = {},
  ) {
    const link = network ? { serviceMs: 0, ...network } : undefined;
    this.hosts = new Map(
      Object.entries(hosts).map(([name, handler]) => [
        name,
        link ? shaped(handler, () => link) : handler,
      ]),
    );
    this.sleep = sim ? (ms) => sim.sleep(ms) : undefined;
    this.timeoutMs = options.timeoutMs ?? CLIENT_TIMEOUT_MS;
  }

  async send(req: OutboundRequest, egressIp: string): Promise<Outcome> {
    const handler = this.hosts.get(req.host);
    if (!handler) return { status: 0, error: "refused", message: `no host ${req.host}` };
    const q = req.path.indexOf("?");
    const request: RegistryRequest = {
      method: req.method,
      path: q < 0 ? req.path : req.path.slice(0, q),
      query: q < 0 ? NO_QUERY : new URLSearchParams(req.path.slice(q + 1)),
      headers: lowerHeaders(req.host, req.headers),
    };
    if (req.body !== undefined) request.body = req.body;
    const handled = await handler.handle(request, { ip: egressIp });
    const r = handled.response;
    const effects = r.effects;
    if (effects) {
      const failure = await openVirtual(effects, this.silence());
      if (failure) return { status: 0, ...failure };
    }
    const head = req.method === "HEAD";
    // A HEAD answer has no body on the wire, whatever the handler returned.
    const body =
      head || r.body === undefined ? EMPTY : Buffer.isBuffer(r.body) ? r.body : Buffer.from(r.body);
    if (this.sleep && effects && body.length > 0) {
      const transfer = virtualTransferMs(effects, body.length) ?? 0;
      if (transfer > 0) await this.sleep(transfer);
    }
    return { status: r.status, headers: r.headers, body };
  }

  /** One request's silent waits, counted against the client's timeout (without a sim, no time passes). */
  private silence(): { idle(ms: number): Promise<boolean> } {
    let waited = 0;
    return {
      idle: async (ms) => {
        const left = this.timeoutMs - waited;
        const wait = Math.min(ms, left);
        waited += wait;
        if (this.sleep) await this.sleep(wait);
        return ms < left;
      },
    };
  }
}

/** An empty body, shared: bodies are only ever read. */
const EMPTY = Buffer.alloc(0);

/** The request's headers as a server sees them: `host` first, names lower-cased. */
function lowerHeaders(host: string, headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = { host };
  for (const k of Object.keys(headers)) out[k.toLowerCase()] = headers[k] as string;
  return out;
}

/** Live mode: real HTTP from a real source address (127.0.0.x) to each host's base URL. */
export class HttpTransport implements Transport {
  private readonly bases: Map<string, URL>;
  private readonly timeoutMs: number;
  private readonly minGapMs: number;
  private nextSlot = 0;
  /** `maxRps`: requests are spaced so the rate never exceeds it (the remote-target cap). */
  constructor(
    bases: Record<string, string>,
    options: { timeoutMs?: number; maxRps?: number } = {},
  ) {
    this.bases = new Map(Object.entries(bases).map(([k, v]) => [k, new URL(v)]));
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.minGapMs = options.maxRps ? 1000 / options.maxRps : 0;
  }

  async send(req: OutboundRequest, egressIp: string): Promise<Outcome> {
    if (this.minGapMs > 0) {
      const now = performance.now();
      const slot = Math.max(now, this.nextSlot);
      this.nextSlot = slot + this.minGapMs;
      if (slot > now) await new Promise((r) => setTimeout(r, slot - now));
    }
    return this.exchange(req, egressIp);
  }

  private exchange(req: OutboundRequest, egressIp: string): Promise<Outcome> {
    const base = this.bases.get(req.host);
    if (!base)
      return Promise.resolve({ status: 0, error: "refused", message: `no host ${req.host}` });
    return new Promise((resolve) => {
      const r = request(
        {
          host: base.hostname,
          port: base.port,
          method: req.method,
          path: req.path,
          headers: req.headers,
          localAddress: egressIp,
          agent: false,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const headers: Record<string, string> = {};
            for (const [k, v] of Object.entries(res.headers))
              if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(", ") : v;
            resolve({ status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks) });
          });
          res.on("error", (e) => resolve({ status: 0, error: "reset", message: e.message }));
        },
      );
      r.setTimeout(this.timeoutMs, () =>
        r.destroy(Object.assign(new Error("timeout"), { code: "ETIMEDOUT" })),
      );
      r.on("error", (e: NodeJS.ErrnoException) =>
        resolve({
          status: 0,
          error:
            e.code === "ECONNRESET"
              ? "reset"
              : e.code === "ECONNREFUSED"
                ? "refused"
                : e.code === "ETIMEDOUT"
                  ? "timeout"
                  : "error",
          message: e.message,
        }),
      );
      r.end(req.body);
    });
  }
}
