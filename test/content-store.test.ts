// A node's content store keeps one shared copy of each digest string: the
// live memory of a large fleet is mostly per-node state (docs/benchmarks.md).
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
    expect([...store.blobs]).toEqual([a]);
    expect(store.hasImage("docker.io/library/alpine:3.20")).toBe(true);
    expect(store.images.get("docker.io/library/alpine:3.20")).toBe(b);
    store.setImage("docker.io/library/alpine:3.20", a);
    expect([...store.images]).toEqual([["docker.io/library/alpine:3.20", a]]);
    store.prune();
    expect(store.blobs.size + store.images.size).toBe(0);
  });

  it("holds one copy of a digest however many nodes parsed it: 5,000 stores x 100 digests cost the sets, not 5,000 copies", () => {
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
    // Own copies: 500,000 strings of 71 characters, over 40 MB. Shared: the 5,000 sets, about 10 MB.
    expect(grown).toBeLessThan(20 * 1024 * 1024);
  });
});
