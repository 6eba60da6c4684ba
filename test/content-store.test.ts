// A node's content store holds its blobs as bits over the digests the process
// has met, not a Set of its own strings: the live memory of a large fleet is
// mostly per-node state (docs/benchmarks.md).
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { ContentStore } from "../simulator/client/content-store.ts";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** 100 digests, parsed afresh (new string instances), as a pull client reads them from manifests. */
function parsedDigests(): string[] {
  const digests = Array.from(
    { length: 100 },
    (_, i) => `sha256:${i.toString(16).padStart(4, "0")}${"ab".repeat(30)}`,
  );
  return JSON.parse(JSON.stringify(digests)) as string[];
}

describe("the content store", () => {
  it("answers as a set of blobs and a map of references", () => {
    const store = new ContentStore();
    const [a, b] = parsedDigests() as [string, string];
    store.addBlob(a);
    store.addBlob(a);
    store.setImage("docker.io/library/alpine:3.20", b);
    expect([...store.blobs()]).toEqual([a]);
    expect(store.hasBlob(a)).toBe(true);
    expect(store.hasBlob(b)).toBe(false);
    expect(store.hasBlob("sha256:never-seen")).toBe(false);
    expect(store.hasImage("docker.io/library/alpine:3.20")).toBe(true);
    expect(store.images.get("docker.io/library/alpine:3.20")).toBe(b);
    store.setImage("docker.io/library/alpine:3.20", a);
    expect([...store.images]).toEqual([["docker.io/library/alpine:3.20", a]]);
    store.prune();
    expect(store.blobCount + store.images.size).toBe(0);
    expect(store.hasBlob(a)).toBe(false);
    store.addBlob(b);
    expect([...store.blobs()]).toEqual([b]);
  });

  it("holds any mix of digests met before and after, in the order the process met them", () => {
    const all = parsedDigests().map((d) => d.replace("sha256:", "sha256:f"));
    const first = new ContentStore();
    for (const d of all) first.addBlob(d); // numbered here, in this order
    const second = new ContentStore();
    // From the highest down, then a gap: every add below the lowest held moves the bits up.
    for (const i of [99, 70, 64, 63, 33, 32, 31, 1, 0, 98]) second.addBlob(all[i] as string);
    second.addBlob(all[0] as string);
    const held = [0, 1, 31, 32, 33, 63, 64, 70, 98, 99];
    expect([...second.blobs()]).toEqual(held.map((i) => all[i]));
    expect(second.blobCount).toBe(held.length);
    all.forEach((d, i) => {
      expect(second.hasBlob(d), `digest ${i}`).toBe(held.includes(i));
    });
    expect([...first.blobs()]).toEqual(all);
  });

  it("holds a digest as a bit however many nodes parsed it: 5,000 stores x 100 digests cost under 4 MB, not 5,000 copies", () => {
    gc();
    const before = process.memoryUsage().heapUsed;
    const stores = Array.from({ length: 5_000 }, () => {
      const store = new ContentStore();
      for (const d of parsedDigests()) store.addBlob(d);
      return store;
    });
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    expect(stores.length).toBe(5_000);
    // Own copies in Sets: over 50 MB. As bits: 5,000 stores of a few words each, well under 4 MB.
    expect(grown).toBeLessThan(4 * 1024 * 1024);
  });
});
