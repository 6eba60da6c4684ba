import { blobHeaders, blobResponse, failure, type Served } from "./responses.ts";
import { type MirrorState, once, readStorage } from "./state.ts";
import { type Session, succeeded, type UpstreamAnswer } from "./upstream.ts";

/** One client blob request. */
export interface BlobPull {
  session: Session;
  name: string;
  digest: string;
  head: boolean;
}

/**
 * Blobs: GET/HEAD /v2/<name>/blobs/<digest>, from the cache or through
 * upstream, streamed to the client while stored (distribution) or through
 * storage (Harbor).
 */
export async function blob(state: MirrorState, pull: BlobPull): Promise<Served> {
  const { session, name, digest, head } = pull;
  const { profile } = state;
  const cached = state.blobs.get(name, digest, state.sim.now());
  if (cached) {
    await readStorage(state);
    return { response: blobResponse(digest, cached, head), outcome: "hit" };
  }
  if (head && !profile.blobHeadFetches) {
    const result = await once(state, `blob-head:${name}:${digest}`, () =>
      session.send("HEAD", `/v2/${name}/blobs/${digest}`),
    );
    if (!succeeded(result)) return failure(profile, result, "blob", digest);
    const length = result.headers["content-length"] ?? "0";
    return {
      response: { status: 200, headers: { ...blobHeaders(digest), "content-length": length } },
      outcome: "miss",
      upstreamStatus: result.status,
    };
  }
  return profile.dedupe ? blobThroughStorage(state, pull) : blobStreamed(state, pull);
}

/**
 * distribution: Stat upstream (the blob handler), look in storage again, then
 * stream to the client (ServeBlob); the first request for a digest also copies
 * it to storage (2.8: a second upstream GET, in a goroutine that establishes
 * the challenge again; 3.x: the same GET teed). Requests arriving while that
 * copy runs only stream. With an upstream that never challenges, each of
 * these steps pings first (seen with docker-registry 2.8.2: three pings per miss).
 */
async function blobStreamed(state: MirrorState, pull: BlobPull): Promise<Served> {
  const { session, name, digest, head } = pull;
  const { profile, storing } = state;
  const path = `/v2/${name}/blobs/${digest}`;
  const failedWith = (answer: UpstreamAnswer): Served => failure(profile, answer, "blob", digest);
  if (profile.blobStat) {
    const pinged = await session.establish();
    if (pinged) return failedWith(pinged);
    const stat = await session.send("HEAD", path);
    if (!succeeded(stat)) return failedWith(stat);
    // ServeBlob looks in storage first: a copy that finished meanwhile is served from there.
    const stored = state.blobs.get(name, digest, state.sim.now());
    if (stored) {
      await readStorage(state);
      return { response: blobResponse(digest, stored, head), outcome: "hit" };
    }
  }
  const pinged = await session.establish();
  if (pinged) return failedWith(pinged);
  const storer = !storing.has(digest);
  if (storer) storing.add(digest);
  try {
    const copies = storer && profile.blobGetsPerMiss === 2 ? 2 : 1;
    const results = await Promise.all(
      Array.from({ length: copies }, async (_, i) => {
        if (i === 1) {
          const again = await session.establish();
          if (again) return again;
        }
        return session.send("GET", path);
      }),
    );
    const toClient = results[0] as UpstreamAnswer;
    const toStorage = results[copies - 1] as UpstreamAnswer;
    if (storer && succeeded(toStorage))
      state.blobs.put(name, digest, toStorage.body, state.sim.now());
    if (!succeeded(toClient)) return failedWith(toClient);
    return {
      response: blobResponse(digest, toClient.body, head),
      outcome: "miss",
      upstreamStatus: toClient.status,
    };
  } finally {
    if (storer) storing.delete(digest);
  }
}

/** Harbor (proxyBlobSync): one shared upstream GET into storage, then every waiter reads storage. */
async function blobThroughStorage(state: MirrorState, pull: BlobPull): Promise<Served> {
  const { session, name, digest, head } = pull;
  const result = await once(state, `blob:${name}:${digest}`, async () => {
    const got = await session.send("GET", `/v2/${name}/blobs/${digest}`);
    if (succeeded(got)) state.blobs.put(name, digest, got.body, state.sim.now());
    return got;
  });
  if (!succeeded(result)) return failure(state.profile, result, "blob", digest);
  await readStorage(state);
  return {
    response: blobResponse(digest, result.body, head),
    outcome: "miss",
    upstreamStatus: result.status,
  };
}
