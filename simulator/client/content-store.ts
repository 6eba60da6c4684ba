/**
 * Every digest the process's stores have held, numbered in the order first
 * seen: a store keeps a bitmap of numbers, not a Set of strings. A cold node
 * parses about 120 digests out of the manifests it pulls, the same ones every
 * other node parses; a Set of them was a node's largest piece of memory
 * (about 2.4 KiB of hash table, plus its own copies of the strings), and the
 * bitmap over the run's few hundred digests is a few dozen bytes. Image
 * references are kept in the same table, for one copy of each. Grows with the
 * distinct digests and references the process meets (the catalogs of the
 * scenarios it runs), never with the fleet.
 */
const numbers = new Map<string, number>();
const digests: string[] = [];

function numberOf(digest: string): number {
  let n = numbers.get(digest);
  if (n === undefined) {
    n = digests.length;
    digests.push(digest);
    numbers.set(digest, n);
  }
  return n;
}

/** The one copy of a string the table holds (a digest, or a reference: the same few dozen on every node). */
function shared(s: string): string {
  return digests[numberOf(s)] as string;
}

const NONE = new Uint32Array(0);

/**
 * A set of digest numbers as bits, from the word of the lowest one held
 * (numbers a run meets are close together, however many runs came before).
 */
class DigestBits {
  private words: Uint32Array = NONE;
  /** The number of the first bit of `words`. */
  private base = 0;
  private count = 0;

  get size(): number {
    return this.count;
  }

  has(n: number): boolean {
    const i = n - this.base;
    if (i < 0) return false;
    const w = i >>> 5;
    return w < this.words.length && ((this.words[w] as number) & (1 << (i & 31))) !== 0;
  }

  add(n: number): void {
    if (this.has(n)) return;
    if (this.count === 0) {
      this.base = n & ~31;
      if (this.words.length === 0) this.words = new Uint32Array(2);
    }
    if (n < this.base) {
      // Room below: move the bits up by whole words.
      const shift = (this.base - (n & ~31)) >>> 5;
      const grown = new Uint32Array(this.words.length + shift);
      grown.set(this.words, shift);
      this.words = grown;
      this.base = n & ~31;
    }
    const i = n - this.base;
    const w = i >>> 5;
    if (w >= this.words.length) {
      const grown = new Uint32Array(Math.max(w + 1, this.words.length * 2));
      grown.set(this.words);
      this.words = grown;
    }
    this.words[w] = (this.words[w] as number) | (1 << (i & 31));
    this.count++;
  }

  clear(): void {
    this.words.fill(0);
    this.count = 0;
  }

  *[Symbol.iterator](): Generator<number> {
    for (let w = 0; w < this.words.length; w++) {
      const word = this.words[w] as number;
      if (word === 0) continue;
      for (let b = 0; b < 32; b++) if (word & (1 << b)) yield this.base + w * 32 + b;
    }
  }
}

/** A node's or runner's local content: blobs by digest and image references resolved to digests. */
export class ContentStore {
  private readonly held = new DigestBits();
  /** reference text -> top-level manifest digest; set through `setImage`. */
  readonly images = new Map<string, string>();

  hasBlob(digest: string): boolean {
    const n = numbers.get(digest);
    return n !== undefined && this.held.has(n);
  }

  addBlob(digest: string): void {
    this.held.add(numberOf(digest));
  }

  /** The blobs held (in the order the process first met their digests). */
  *blobs(): Generator<string> {
    for (const n of this.held) yield digests[n] as string;
  }

  get blobCount(): number {
    return this.held.size;
  }

  setImage(ref: string, digest: string): void {
    const known = this.images.get(ref);
    if (known === digest) return;
    this.images.set(known === undefined ? shared(ref) : ref, shared(digest));
  }

  hasImage(ref: string): boolean {
    return this.images.has(ref);
  }

  /** Forget everything: a recycled node or an ephemeral runner. */
  clear(): void {
    this.held.clear();
    this.images.clear();
  }

  /** A prune job: images go, and with them their blobs. */
  prune(): void {
    this.clear();
  }
}
