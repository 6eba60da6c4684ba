/**
 * A runtime's pull, modelled, for when the real program cannot run here
 * (dockerd always; containerd or skopeo when not installed). It speaks real
 * HTTP to the same loopback stand-ins, so the requests are recorded exactly
 * like a real program's. What it models, per runtime (../shared/FACTS.md):
 * - containerd (per-request): tags resolved with HEAD on hosts with pull and
 *   resolve, everything else fetched by digest from hosts with pull; each
 *   request tries the hosts in order and moves on at any error or status >= 400;
 *   requests to a host other than the registry carry ?ns=<registry>.
 * - dockerd and containers/image (single-source): the tag is resolved with GET
 *   on the first host; any error from a mirror moves the whole pull to the next
 *   host (Docker Hub last for dockerd, the registry's location for containers/image).
 */
import { isLoopbackHost } from "./endpoints.ts";
import type { PullStyle } from "./plan.ts";

export interface ModelHost {
  /** Base URL of the stand-in plus the request root: http://127.0.0.1:PORT/v2 */
  base: string;
  resolve: boolean;
  pull: boolean;
  /** containerd adds ?ns=<registry> to requests to this host. */
  ns?: string;
}

export interface ModelPull {
  hosts: ModelHost[];
  style: PullStyle;
  repository: string;
  tag?: string;
  digest?: string;
  /** HEAD (containerd) or GET (dockerd, containers/image) to resolve a tag. */
  resolveMethod: "HEAD" | "GET";
  architecture: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface ModelOutcome {
  ok: boolean;
  error?: string;
  /** What the model did when it moved on, like containerd's "trying next host". */
  log: string[];
}

const ACCEPT = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

interface Answer {
  status: number;
  headers: Headers;
  body: Buffer;
}

class HostClient {
  private token: string | undefined;
  readonly host: ModelHost;
  private readonly timeoutMs: number;
  private readonly scope: string;

  private readonly signal: AbortSignal | undefined;

  constructor(host: ModelHost, repository: string, timeoutMs: number, signal?: AbortSignal) {
    this.host = host;
    this.timeoutMs = timeoutMs;
    this.signal = signal;
    this.scope = `repository:${repository}:pull`;
  }

  private abort(): AbortSignal {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    return this.signal ? AbortSignal.any([timeout, this.signal]) : timeout;
  }

  private url(path: string): string {
    const u = `${this.host.base}${path}`;
    return this.host.ns ? `${u}?ns=${encodeURIComponent(this.host.ns)}` : u;
  }

  /** One request with the bearer-token flow; a network error is thrown. */
  async send(method: "GET" | "HEAD", path: string, accept?: string): Promise<Answer> {
    const go = async () => {
      const headers: Record<string, string> = {};
      if (accept) headers.accept = accept;
      if (this.token) headers.authorization = `Bearer ${this.token}`;
      const res = await fetch(this.url(path), {
        method,
        headers,
        redirect: "manual",
        signal: this.abort(),
      });
      const body = Buffer.from(await res.arrayBuffer());
      return { status: res.status, headers: res.headers, body };
    };
    let answer = await go();
    if (answer.status === 401 && (await this.fetchToken(answer.headers.get("www-authenticate"))))
      answer = await go();
    return answer;
  }

  private async fetchToken(header: string | null): Promise<boolean> {
    if (!header || !/^bearer\s/i.test(header)) return false;
    const params: Record<string, string> = {};
    for (const m of header.matchAll(/([a-zA-Z_]+)="([^"]*)"/g))
      params[(m[1] as string).toLowerCase()] = m[2] as string;
    if (!params.realm) return false;
    let realm: URL;
    try {
      realm = new URL(params.realm);
    } catch {
      return false;
    }
    // Never follow a realm off loopback.
    if (!isLoopbackHost(realm.host)) return false;
    if (params.service) realm.searchParams.set("service", params.service);
    realm.searchParams.set("scope", params.scope ?? this.scope);
    const res = await fetch(realm, { signal: this.abort() });
    const body = (await res.json().catch(() => ({}))) as { token?: string; access_token?: string };
    this.token = body.token ?? body.access_token;
    return res.status === 200 && this.token !== undefined;
  }
}

const NETWORK: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset by peer",
  UND_ERR_SOCKET: "connection closed by the host",
  UND_ERR_HEADERS_TIMEOUT: "no answer",
  ETIMEDOUT: "timed out",
};

function describe(error: unknown): string {
  const e = error as { name?: string; cause?: { code?: string }; message?: string };
  if (e.name === "TimeoutError") return "timed out";
  const code = e.cause?.code;
  return (code ? (NETWORK[code] ?? code) : undefined) ?? e.message ?? String(error);
}

/** Pulls one image the way the modelled runtime would; never throws. */
export async function modelPull(pull: ModelPull): Promise<ModelOutcome> {
  const log: string[] = [];
  const clients = pull.hosts.map(
    (h) => new HostClient(h, pull.repository, pull.timeoutMs, pull.signal),
  );
  try {
    if (pull.style === "per-request") return await perRequest(pull, clients, log);
    return await singleSource(pull, clients, log);
  } catch (error) {
    return { ok: false, error: describe(error), log };
  }
}

/** The first answer < 400 from `hosts` in order; each failure logged like containerd's "trying next host". */
async function firstGood(
  hosts: HostClient[],
  method: "GET" | "HEAD",
  path: string,
  log: string[],
  accept?: string,
): Promise<{ answer: Answer; host: HostClient } | { error: string }> {
  let first: string | undefined;
  for (const host of hosts) {
    let answer: Answer;
    try {
      answer = await host.send(method, path, accept);
    } catch (error) {
      const why = `${method} ${host.host.base}${path}: ${describe(error)}`;
      log.push(`trying next host: ${why}`);
      first ??= why;
      continue;
    }
    if (answer.status < 400) return { answer, host };
    const why = `${method} ${host.host.base}${path}: ${answer.status}`;
    log.push(`trying next host: ${why}`);
    first ??= why;
  }
  return { error: first ?? `no host to ${method} ${path}` };
}

interface Manifest {
  manifests?: Array<{ digest: string; platform?: { architecture?: string; os?: string } }>;
  config?: { digest: string };
  layers?: Array<{ digest: string }>;
}

function platformEntry(index: Manifest, architecture: string): string | undefined {
  const entry =
    index.manifests?.find(
      (m) => m.platform?.architecture === architecture && (m.platform?.os ?? "linux") === "linux",
    ) ?? undefined;
  return entry?.digest;
}

async function perRequest(
  pull: ModelPull,
  clients: HostClient[],
  log: string[],
): Promise<ModelOutcome> {
  const resolvers = clients.filter((c) => c.host.resolve);
  const pullers = clients.filter((c) => c.host.pull);
  const base = `/${pull.repository}`;
  let digest = pull.digest;
  if (!digest) {
    const resolved = await firstGood(
      resolvers,
      pull.resolveMethod,
      `${base}/manifests/${pull.tag}`,
      log,
      ACCEPT,
    );
    if ("error" in resolved) return { ok: false, error: resolved.error, log };
    digest = resolved.answer.headers.get("docker-content-digest") ?? undefined;
    if (!digest) {
      const again = await firstGood(
        [resolved.host],
        "GET",
        `${base}/manifests/${pull.tag}`,
        log,
        ACCEPT,
      );
      if ("error" in again) return { ok: false, error: again.error, log };
      digest = again.answer.headers.get("docker-content-digest") ?? undefined;
    }
    if (!digest) return { ok: false, error: "no digest for the tag", log };
  }
  const top = await firstGood(pullers, "GET", `${base}/manifests/${digest}`, log, ACCEPT);
  if ("error" in top) return { ok: false, error: top.error, log };
  let manifest = JSON.parse(top.answer.body.toString()) as Manifest;
  if (manifest.manifests) {
    const platform = platformEntry(manifest, pull.architecture);
    if (!platform) return { ok: false, error: `no linux/${pull.architecture} image`, log };
    const m = await firstGood(pullers, "GET", `${base}/manifests/${platform}`, log, ACCEPT);
    if ("error" in m) return { ok: false, error: m.error, log };
    manifest = JSON.parse(m.answer.body.toString()) as Manifest;
  }
  const blobs = [manifest.config?.digest, ...(manifest.layers ?? []).map((l) => l.digest)].filter(
    (d): d is string => typeof d === "string",
  );
  for (const blob of blobs) {
    const b = await firstGood(pullers, "GET", `${base}/blobs/${blob}`, log);
    if ("error" in b) return { ok: false, error: b.error, log };
  }
  return { ok: true, log };
}

async function singleSource(
  pull: ModelPull,
  clients: HostClient[],
  log: string[],
): Promise<ModelOutcome> {
  let last = "no host to pull from";
  const candidates = clients.filter((c) => c.host.pull);
  for (const [i, client] of candidates.entries()) {
    const failed = await fromOne(pull, client);
    if (failed === undefined) return { ok: true, log };
    last = failed;
    if (i < candidates.length - 1) log.push(`trying next host: ${failed}`);
  }
  return { ok: false, error: last, log };
}

/** The whole pull from one host; the reason it failed, or undefined. */
async function fromOne(pull: ModelPull, client: HostClient): Promise<string | undefined> {
  const base = `/${pull.repository}`;
  const get = async (path: string, accept?: string) => {
    try {
      const a = await client.send("GET", path, accept);
      return a.status < 400 ? a : `GET ${client.host.base}${path}: ${a.status}`;
    } catch (error) {
      return `GET ${client.host.base}${path}: ${describe(error)}`;
    }
  };
  const top = await get(`${base}/manifests/${pull.digest ?? pull.tag}`, ACCEPT);
  if (typeof top === "string") return top;
  let manifest = JSON.parse(top.body.toString()) as Manifest;
  if (manifest.manifests) {
    const platform = platformEntry(manifest, pull.architecture);
    if (!platform) return `no linux/${pull.architecture} image`;
    const m = await get(`${base}/manifests/${platform}`, ACCEPT);
    if (typeof m === "string") return m;
    manifest = JSON.parse(m.body.toString()) as Manifest;
  }
  for (const d of [manifest.config?.digest, ...(manifest.layers ?? []).map((l) => l.digest)]) {
    if (!d) continue;
    const b = await get(`${base}/blobs/${d}`);
    if (typeof b === "string") return b;
  }
  return undefined;
}

/** The architecture name registries use for this machine. */
export function hostArchitecture(): string {
  return process.arch === "arm64" ? "arm64" : "amd64";
}
