/**
 * How each container runtime pulls (../shared/FACTS.md): which request resolves
 * a tag, what it retries, how mirrors are tried. Numbers as data.
 */
export interface RuntimeModel {
  name: "containerd" | "dockerd" | "cri-o";
  /** containerd resolves with HEAD (GET only without a digest header); dockerd with GET. */
  resolveMethod: "HEAD" | "GET";
  /** Responses (429/408) retried at once on the same host: containerd stops after 6 responses. */
  immediateRetryStatuses: number[];
  maxResponsesPerRequest: number;
  /** A status >= 400 from a host moves to the next host (containerd); dockerd falls back to Hub on any mirror error. */
  fallThroughHosts: boolean;
  maxConcurrentDownloads: number;
  /** Waits before retrying a failed layer (dockerd: 5, 10, 15, 20 s). */
  layerRetryDelaysMs: number[];
  /** Honour Retry-After and back off on 429 (containers/image: 2 s doubling to 60 s, 5 attempts). */
  backoff429?: { attempts: number; firstMs: number; maxMs: number; honourRetryAfter: boolean };
  /** containerd adds ?ns=<registry> on requests to mirrors. */
  mirrorNamespaceParam: boolean;
}

export const RUNTIMES: Record<RuntimeModel["name"], RuntimeModel> = {
  containerd: {
    name: "containerd",
    resolveMethod: "HEAD",
    immediateRetryStatuses: [429, 408],
    maxResponsesPerRequest: 6,
    fallThroughHosts: true,
    maxConcurrentDownloads: 3,
    layerRetryDelaysMs: [],
    mirrorNamespaceParam: true,
  },
  dockerd: {
    name: "dockerd",
    resolveMethod: "GET",
    immediateRetryStatuses: [],
    maxResponsesPerRequest: 1,
    fallThroughHosts: true,
    maxConcurrentDownloads: 3,
    layerRetryDelaysMs: [5000, 10_000, 15_000, 20_000],
    mirrorNamespaceParam: false,
  },
  "cri-o": {
    name: "cri-o",
    resolveMethod: "GET",
    immediateRetryStatuses: [],
    maxResponsesPerRequest: 1,
    fallThroughHosts: true,
    maxConcurrentDownloads: 3,
    layerRetryDelaysMs: [],
    backoff429: { attempts: 5, firstMs: 2000, maxMs: 60_000, honourRetryAfter: true },
    mirrorNamespaceParam: false,
  },
};
