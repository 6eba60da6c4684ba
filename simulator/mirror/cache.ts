/**
 * The mirror's storage: blobs by digest (bounded by bytes, least recently used
 * evicted first), manifests by repository and digest, and the tag -> digest
 * links the tag service keeps. Everything expires after the flavour's TTL.
 */
import { LRUCache } from "lru-cache";

export interface Lifetime {
  /** ms of simulated time; Infinity keeps content for ever. */
  ttlMs: number;
  /** Counted from when the content was stored (distribution's scheduler) or last read (Harbor). */
  from: "stored" | "last-use";
}

interface Aging {
  storedAt: number;
  usedAt: number;
}

function expired(entry: Aging, lifetime: Lifetime, now: number): boolean {
  const since = lifetime.from === "stored" ? entry.storedAt : entry.usedAt;
  return now - since >= lifetime.ttlMs;
}

interface BlobEntry extends Aging {
  bytes: Buffer;
  /** Repositories the blob is linked into: distribution serves a blob only through a repository that fetched it. */
  repositories: Set<string>;
}

/** Blobs by digest, bounded by bytes: lru-cache keeps the recency order and evicts the least recently used. */
export class BlobStore {
  private readonly entries: LRUCache<string, BlobEntry>;
  private readonly lifetime: Lifetime;
  /** Blobs dropped to make room (not expiries). */
  evictions = 0;

  constructor(capacityBytes: number, lifetime: Lifetime) {
    this.lifetime = lifetime;
    const maxSize = Number.isFinite(capacityBytes) ? capacityBytes : Number.MAX_SAFE_INTEGER;
    this.entries = new LRUCache<string, BlobEntry>({
      maxSize,
      // A blob larger than the whole cache is not kept.
      maxEntrySize: maxSize,
      sizeCalculation: (entry) => Math.max(1, entry.bytes.length),
      dispose: (_entry, _digest, reason) => {
        if (reason === "evict") this.evictions++;
      },
    });
  }

  get bytesUsed(): number {
    return this.entries.calculatedSize;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The blob if it is stored, linked into `repository` and not expired; marks it recently used. */
  get(repository: string, digest: string, now: number): Buffer | undefined {
    const entry = this.entries.peek(digest);
    if (!entry) return undefined;
    if (expired(entry, this.lifetime, now)) {
      this.entries.delete(digest);
      return undefined;
    }
    if (!entry.repositories.has(repository)) return undefined;
    entry.usedAt = now;
    this.entries.get(digest);
    return entry.bytes;
  }

  /** Stores a blob, evicting the least recently used ones to stay within capacity. */
  put(repository: string, digest: string, bytes: Buffer, now: number): void {
    const existing = this.entries.peek(digest);
    if (existing) {
      existing.repositories.add(repository);
      existing.usedAt = now;
      return;
    }
    this.entries.set(digest, {
      bytes,
      storedAt: now,
      usedAt: now,
      repositories: new Set([repository]),
    });
  }
}

export interface StoredManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
}

interface ManifestEntry extends Aging {
  manifest: StoredManifest;
}

export class ManifestStore {
  private readonly manifests = new Map<string, ManifestEntry>();
  private readonly tags = new Map<string, string>();
  private readonly lifetime: Lifetime;

  constructor(lifetime: Lifetime) {
    this.lifetime = lifetime;
  }

  get(repository: string, digest: string, now: number): StoredManifest | undefined {
    const key = `${repository}@${digest}`;
    const entry = this.manifests.get(key);
    if (!entry) return undefined;
    if (expired(entry, this.lifetime, now)) {
      this.manifests.delete(key);
      // distribution removes the repository when a manifest expires: its tags go too.
      for (const [tag, target] of this.tags)
        if (target === digest && tag.startsWith(`${repository}:`)) this.tags.delete(tag);
      return undefined;
    }
    entry.usedAt = now;
    return entry.manifest;
  }

  put(repository: string, manifest: StoredManifest, now: number): void {
    const key = `${repository}@${manifest.digest}`;
    const existing = this.manifests.get(key);
    if (existing) existing.usedAt = now;
    else this.manifests.set(key, { manifest, storedAt: now, usedAt: now });
  }

  /** The digest the tag pointed at when last seen upstream. */
  tagged(repository: string, tag: string): string | undefined {
    return this.tags.get(`${repository}:${tag}`);
  }

  tag(repository: string, tag: string, digest: string): void {
    this.tags.set(`${repository}:${tag}`, digest);
  }

  untag(repository: string, tag: string): void {
    this.tags.delete(`${repository}:${tag}`);
  }

  /** Tags known locally for a repository (what distribution lists when upstream is down). */
  tagsOf(repository: string): string[] {
    const prefix = `${repository}:`;
    return [...this.tags.keys()]
      .filter((k) => k.startsWith(prefix))
      .map((k) => k.slice(prefix.length))
      .sort();
  }
}
