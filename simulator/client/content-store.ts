/** A node's or runner's local content: blobs by digest and image references resolved to digests. */
export class ContentStore {
  readonly blobs = new Set<string>();
  /** reference text -> top-level manifest digest */
  readonly images = new Map<string, string>();

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
