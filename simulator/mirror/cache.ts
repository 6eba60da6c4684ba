/**
 * The mirror's storage: blobs by digest (bounded by bytes, least recently used
 * evicted first), manifests by repository and digest, and the tag -> digest
 * links the tag service keeps. Everything expires after the flavour's TTL.
 */

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

export class BlobStore {
  private readonly entries = new Map<string, BlobEntry>();
  private readonly capacity: number;
  private readonly lifetime: Lifetime;
  private used = 0;
  /** Blobs dropped to make room (not expiries). */
  evictions = 0;

  constructor(capacityBytes: number, lifetime: Lifetime) {
    this.capacity = capacityBytes;
    this.lifetime = lifetime;
  }

  get bytesUsed(): number {
    return this.used;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The blob if it is stored, linked into `repository` and not expired; marks it recently used. */
  get(repository: string, digest: string, now: number): Buffer | undefined {
    const entry = this.entries.get(digest);
    if (!entry) return undefined;
    if (expired(entry, this.lifetime, now)) {
      this.drop(digest, entry);
      return undefined;
    }
    if (!entry.repositories.has(repository)) return undefined;
    entry.usedAt = now;
    // Map order is the recency order: move to the end.
    this.entries.delete(digest);
    this.entries.set(digest, entry);
    return entry.bytes;
  }

  /** Stores a blob, evicting the least recently used ones to stay within capacity; one larger than the whole cache is not kept. */
  put(repository: string, digest: string, bytes: Buffer, now: number): void {
    const existing = this.entries.get(digest);
    if (existing) {
      existing.repositories.add(repository);
      existing.usedAt = now;
      return;
    }
    if (bytes.length > this.capacity) return;
    this.entries.set(digest, {
      bytes,
      storedAt: now,
      usedAt: now,
      repositories: new Set([repository]),
    });
    this.used += bytes.length;
    for (const [oldest, entry] of this.entries) {
      if (this.used <= this.capacity) break;
      this.drop(oldest, entry);
      this.evictions++;
    }
  }

  private drop(digest: string, entry: BlobEntry): void {
    this.entries.delete(digest);
    this.used -= entry.bytes.length;
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
