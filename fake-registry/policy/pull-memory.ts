import { LRUCache } from "lru-cache";

/** Subject-and-image pairs remembered at most (least recently used forgotten first). */
export const PULL_MEMORY_MAX = 100_000;
/**
 * Open pulls remembered per subject and image (more index GETs in one window
 * pay, but open none): room for a fleet's concurrent pulls behind one address or
 * account (50 CI jobs at once, their requests interleaved by network time).
 */
export const OPEN_MAX = 1024;
/** Open pulls remembered in all (8 MB of times at most): pairs are forgotten, least recently used first, beyond it. */
export const OPEN_TOTAL_MAX = 1_000_000;

/**
 * The recent index GETs of each subject, per image: what lets a `docker-pull`
 * count (types.ts CountAs) charge a platform-manifest GET nothing when it
 * follows its index. Each admitted index GET opens one pull; the first
 * platform-manifest GET of that image within the window joins the oldest open
 * pull and closes it. Bounded twice over, so hostile clients cannot grow it:
 * at most PULL_MEMORY_MAX subject-image pairs and OPEN_TOTAL_MAX open pulls
 * in all (least recently used forgotten, which only makes a later platform GET
 * cost a pull) and at most OPEN_MAX open pulls each; times are registry time, so old entries expire whatever clock
 * drives the registry. Memory of this process: with a shared quota store
 * (Redis) each replica remembers the index GETs it served (docs/policy.md).
 */
export class PullMemory {
  private readonly open: LRUCache<string, number[]>;

  constructor(max = PULL_MEMORY_MAX) {
    this.open = new LRUCache<string, number[]>({
      max,
      maxSize: OPEN_TOTAL_MAX,
      sizeCalculation: (times) => Math.max(1, times.length),
    });
  }

  /** An admitted index GET of `image` by the subject of `key` at `now` opens a pull. */
  opened(key: string, image: string, now: number): void {
    const id = `${key}|${image}`;
    const times = this.open.get(id) ?? [];
    if (times.length >= OPEN_MAX) times.shift();
    times.push(now);
    this.open.set(id, times);
  }

  /**
   * A platform-manifest GET of `image` at `now`: true when it joins a pull an
   * index GET opened within `withinMs` (and closes that pull), false when it
   * is a pull of its own.
   */
  join(key: string, image: string, now: number, withinMs: number): boolean {
    const id = `${key}|${image}`;
    const times = this.open.get(id);
    if (!times) return false;
    while (times.length > 0 && now - (times[0] as number) > withinMs) times.shift();
    const joined = times.length > 0;
    if (joined) times.shift();
    if (times.length === 0) this.open.delete(id);
    return joined;
  }

  /** Subject-image pairs remembered now, for tests. */
  get size(): number {
    return this.open.size;
  }

  clear(): void {
    this.open.clear();
  }
}
