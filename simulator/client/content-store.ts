/**
 * One copy of each digest and reference string for every store in the
 * process: a cold node parses about 120 digests out of the manifests it
 * pulls, the same strings every other node parses, and holding each node's
 * own copies was most of a large fleet's live memory (about 10 KiB a node).
 * Bounded: past this many distinct strings it starts over (sharing is lost
 * for a while, nothing else).
 */
const SHARED_MAX = 1 << 16;
const shared = new Map<string, string>();

function intern(s: string): string {
  const known = shared.get(s);
  if (known !== undefined) return known;
  if (shared.size >= SHARED_MAX) shared.clear();
  shared.set(s, s);
  return s;
}

/** A node's or runner's local content: blobs by digest and image references resolved to digests. */
export class ContentStore {
  /** Read it here; add through `addBlob`. */
  readonly blobs = new Set<string>();
  /** reference text -> top-level manifest digest; set through `setImage`. */
  readonly images = new Map<string, string>();

  addBlob(digest: string): void {
    if (!this.blobs.has(digest)) this.blobs.add(intern(digest));
  }

  setImage(ref: string, digest: string): void {
    const known = this.images.get(ref);
    if (known === digest) return;
    this.images.set(known === undefined ? intern(ref) : ref, intern(digest));
  }

  hasImage(ref: string): boolean {
    return this.images.has(ref);
  }

  /** Forget everything: a recycled node or an ephemeral runner. */
  clear(): void {
    this.blobs.clear();
    this.images.clear();
  }

  /** A prune job: images go, and with them their blobs. */
  prune(): void {
    this.clear();
  }
}
