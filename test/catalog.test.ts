import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { extract } from "tar-stream";
import { describe, expect, it } from "vitest";
import { Catalog } from "../fake-registry/catalog/catalog.ts";
import { loadCatalogFile } from "../fake-registry/catalog/file.ts";
import { ConfigError } from "../vocabulary/config/yaml-file.ts";
import { fileIn, inTempDir } from "./helpers/files.ts";

const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

async function tarEntries(tar: Buffer): Promise<string[]> {
  const names: string[] = [];
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on("entry", (header, stream, next) => {
      names.push(header.name);
      stream.on("end", next);
      stream.resume();
    });
    ex.on("finish", resolve);
    ex.on("error", reject);
  });
  ex.end(tar);
  await done;
  return names;
}

const BUILTINS = [
  "library/nginx:1.25",
  "library/redis:7",
  "library/alpine:3.20",
  "library/node:20",
  "library/postgres:16",
  "library/busybox:latest",
  "myorg/api:latest",
  "ratelimitpreview/test:latest",
];

describe("catalog", () => {
  it("serves every built-in image; library/* as two-platform indexes", async () => {
    const catalog = new Catalog({ seed: 1 });
    for (const ref of BUILTINS) {
      const [name, tag] = ref.split(":") as [string, string];
      const build = await catalog.resolveTag(name, tag, 0);
      expect(build, ref).toBeDefined();
      if (name.startsWith("library/")) {
        expect(build?.index?.docker.mediaType).toBe(
          "application/vnd.docker.distribution.manifest.list.v2+json",
        );
        expect(build?.platforms.map((p) => p.platform.architecture)).toEqual(["amd64", "arm64"]);
      }
    }
  });

  it("is deterministic for a seed and different across seeds", async () => {
    const a = await new Catalog({ seed: 7 }).resolveTag("library/redis", "7", 0);
    const b = await new Catalog({ seed: 7 }).resolveTag("library/redis", "7", 0);
    const c = await new Catalog({ seed: 8 }).resolveTag("library/redis", "7", 0);
    expect(a?.index?.docker.digest).toBe(b?.index?.docker.digest);
    expect(a?.index?.docker.digest).not.toBe(c?.index?.docker.digest);
  });

  it("makes layers real gzip'd tars whose digests and diff_ids verify, even after regeneration", async () => {
    const catalog = new Catalog({ seed: 3, blobCacheBytes: 1 });
    const build = await catalog.resolveTag("library/alpine", "3.20", 0);
    const platform = build?.platforms[0];
    expect(platform).toBeDefined();
    const config = JSON.parse(platform?.config.bytes.toString() ?? "{}");
    for (const [i, layer] of (platform?.layers ?? []).entries()) {
      const blob = await catalog.blob("library/alpine", layer.digest, 0);
      const bytes = (await blob?.load()) as Buffer;
      expect(sha(bytes)).toBe(layer.digest);
      expect(bytes.length).toBe(blob?.size);
      const tar = gunzipSync(bytes);
      expect(sha(tar)).toBe(config.rootfs.diff_ids[i]);
      expect((await tarEntries(tar)).some((n) => n.endsWith("payload.bin"))).toBe(true);
    }
  });

  it("shares the base layer between images on the same base, and scopes blobs to repositories", async () => {
    const catalog = new Catalog({ seed: 1 });
    const nginx = await catalog.resolveTag("library/nginx", "1.25", 0);
    const redis = await catalog.resolveTag("library/redis", "7", 0);
    const base = nginx?.platforms[0]?.layers[0]?.digest as string;
    expect(redis?.platforms[0]?.layers[0]?.digest).toBe(base);
    const own = nginx?.platforms[0]?.layers.at(-1)?.digest as string;
    expect(await catalog.blob("library/redis", own, 0)).toBeUndefined();
    expect(await catalog.blob("library/nginx", own, 0)).toBeDefined();
  });

  it("honours layer count and size, and keeps a large catalog lazy", async () => {
    const catalog = new Catalog({
      seed: 1,
      synthetic: 5000,
      defaults: { layers: 3, layerSize: 50_000 },
    });
    expect(catalog.size).toBe(5008);
    const name = catalog.names().find((n) => n.startsWith("synthetic/")) as string;
    const tag = catalog.tags(name)?.[0] as string;
    const build = await catalog.resolveTag(name, tag, 0);
    expect(build?.platforms[0]?.layers).toHaveLength(3);
    for (const layer of build?.platforms[0]?.layers ?? []) {
      // incompressible payload: the gzip'd size tracks the requested size
      expect(layer.size).toBeGreaterThan(20_000);
      expect(layer.size).toBeLessThan(90_000);
    }
  });

  it("moves a tag to new content on its schedule", () =>
    inTempDir("pullstorm-catalog-", async (dir) => {
      const file = fileIn(dir, "catalog.yaml", [
        "images:",
        "  - name: myorg/web",
        "    tags:",
        "      latest: { moves: { every: 1h } }",
        '      "1.0":',
        "    layers: 2",
        "    layerSize: 4KiB",
      ]);
      const parsed = loadCatalogFile(file);
      const catalog = new Catalog({ seed: 1, images: parsed.images });
      const at0 = await catalog.resolveTag("myorg/web", "latest", 0);
      const at59m = await catalog.resolveTag("myorg/web", "latest", 59 * 60_000);
      const at1h = await catalog.resolveTag("myorg/web", "latest", 3_600_000);
      const pinned = await catalog.resolveTag("myorg/web", "1.0", 3_600_000);
      expect(at59m?.platforms[0]?.manifests.oci.digest).toBe(
        at0?.platforms[0]?.manifests.oci.digest,
      );
      expect(at1h?.platforms[0]?.manifests.oci.digest).not.toBe(
        at0?.platforms[0]?.manifests.oci.digest,
      );
      expect(pinned?.generation).toBe(0);
      // the old digest stays pullable after the tag moved
      const old = at0?.platforms[0]?.manifests.oci.digest as string;
      expect(await catalog.manifestByDigest("myorg/web", old, 3_600_000)).toBeDefined();
    }));

  it("rejects a bad catalog file naming file, line and field", () =>
    inTempDir("pullstorm-catalog-", (dir) => {
      const file = fileIn(dir, "bad.yaml", [
        "images:",
        "  - name: myorg/web",
        "    tags: [latest]",
        "    layerSize: lots",
      ]);
      expect(() => loadCatalogFile(file)).toThrowError(ConfigError);
      try {
        loadCatalogFile(file);
      } catch (error) {
        expect((error as ConfigError).problems[0]).toMatch(
          /bad\.yaml:4:\d+: images\.0\.layerSize: "lots" is not a size/,
        );
      }
      writeFileSync(file, "images:\n  - name: ../etc\n    tags: [latest]\n");
      expect(() => loadCatalogFile(file)).toThrowError(
        /bad\.yaml:2:\d+: images\.0\.name: repository name must match/,
      );
      writeFileSync(file, "images: [\n");
      expect(() => loadCatalogFile(file)).toThrowError(/bad\.yaml:\d+:\d+: /);
      expect(() => loadCatalogFile(join(dir, "missing.yaml"))).toThrowError(
        /missing\.yaml: cannot read \(ENOENT\)/,
      );
    }));
});
