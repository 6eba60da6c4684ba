import type { Faker } from "@faker-js/faker";
import { FORMAT_MEDIA, type ManifestFormat } from "../../vocabulary/oci/media-types.ts";
import type { LayerRecipe } from "./layer.ts";
import { sha256 } from "./layer.ts";
import { type ImageSpec, type Platform, platformKey } from "./spec.ts";

/** A manifest, index or config document: exact bytes and their digest. */
export interface Document {
  digest: string;
  mediaType: string;
  bytes: Buffer;
}

export interface LayerInfo {
  key: string;
  digest: string;
  diffId: string;
  size: number;
}

export interface PlatformBuild {
  platform: Platform;
  config: Document;
  layers: LayerInfo[];
  manifests: Record<ManifestFormat, Document>;
}

/** Everything a tag names at one generation, in both manifest families. */
export interface ImageBuild {
  name: string;
  tag: string;
  generation: number;
  format: ManifestFormat;
  /** Present for multi-platform images. */
  index?: Record<ManifestFormat, Document>;
  platforms: PlatformBuild[];
}

/** Layer metadata by recipe, generating the layer when it is not known yet. */
export type LayerSource = (recipe: LayerRecipe) => Promise<LayerInfo>;

const EPOCH = Date.UTC(2024, 0, 1);

/**
 * A string's UTF-8 bytes in memory of their own. `Buffer.from(string)` cuts
 * small buffers from a shared pool (64 KiB on Node 24) and keeps the whole
 * pool alive while the buffer lives: kept documents pinned about 64 KiB each.
 */
export function ownBytes(text: string): Buffer {
  const bytes = Buffer.allocUnsafeSlow(Buffer.byteLength(text));
  bytes.write(text);
  return bytes;
}

function doc(mediaType: string, value: unknown): Document {
  const bytes = ownBytes(JSON.stringify(value, null, 2));
  return { digest: sha256(bytes), mediaType, bytes };
}

/** A 32-bit seed derived from parts, for re-seeding faker per image and platform. */
export function seedOf(...parts: Array<string | number>): number {
  return Number.parseInt(sha256(parts.join("|")).slice(7, 15), 16);
}

export async function buildImage(
  spec: ImageSpec,
  tag: string,
  generation: number,
  seed: number,
  faker: Faker,
  layerSource: LayerSource,
): Promise<ImageBuild> {
  const created = new Date(EPOCH + generation * 3_600_000);
  const short = spec.name.split("/").pop() as string;
  const platforms: PlatformBuild[] = [];
  for (const platform of spec.platforms) {
    const pkey = platformKey(platform);
    faker.seed(seedOf(seed, spec.name, tag, generation, pkey));
    const recipes: LayerRecipe[] = [
      {
        key: `${seed}|base|${spec.base}|${pkey}`,
        size: spec.layerSize,
        files: { "etc/os-release": `NAME="${spec.base}"\nID=${spec.base}\nPLATFORM=${pkey}\n` },
        payloadDir: `usr/lib/${spec.base}`,
        mtime: new Date(EPOCH),
      },
    ];
    for (let i = 1; i < spec.layers; i++) {
      recipes.push({
        key: `${seed}|${spec.name}|${tag}|${generation}|${pkey}|${i}`,
        size: Math.max(1, Math.round(spec.layerSize * faker.number.float({ min: 0.5, max: 1.5 }))),
        files: {
          [`opt/${short}/layer-${i}.txt`]: `${faker.lorem.sentence()}\n${faker.git.commitSha()}\n`,
        },
        payloadDir: `opt/${short}/${i}`,
        mtime: created,
      });
    }
    const layers = await Promise.all(recipes.map((r) => layerSource(r)));
    const labels = {
      "org.opencontainers.image.title": short,
      "org.opencontainers.image.version": `${tag}-g${generation}`,
      "org.opencontainers.image.vendor": faker.company.name(),
      "org.opencontainers.image.description": faker.company.catchPhrase(),
    };
    const config = {
      created: created.toISOString(),
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      config: {
        Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        Cmd: [`/opt/${short}/run`],
        Labels: labels,
      },
      rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
      history: layers.map((_, i) => ({
        created: created.toISOString(),
        created_by: i === 0 ? `ADD ${spec.base} rootfs` : `RUN ${faker.hacker.verb()} ${short}`,
      })),
    };
    const configBytes = ownBytes(JSON.stringify(config));
    const configDigest = sha256(configBytes);
    const manifests = inBothFormats((media) =>
      doc(media.manifest, {
        schemaVersion: 2,
        mediaType: media.manifest,
        config: { mediaType: media.config, size: configBytes.length, digest: configDigest },
        layers: layers.map((l) => ({ mediaType: media.layer, size: l.size, digest: l.digest })),
      }),
    );
    platforms.push({
      platform,
      // The config bytes are the same in both families; its media type is the image's own.
      config: {
        digest: configDigest,
        mediaType: FORMAT_MEDIA[spec.format].config,
        bytes: configBytes,
      },
      layers,
      manifests,
    });
  }
  const build: ImageBuild = {
    name: spec.name,
    tag,
    generation,
    format: spec.format,
    platforms,
  };
  if (spec.platforms.length > 1) {
    build.index = inBothFormats((media, format) =>
      doc(media.index, {
        schemaVersion: 2,
        mediaType: media.index,
        manifests: platforms.map((p) => ({
          mediaType: media.manifest,
          size: p.manifests[format].bytes.length,
          digest: p.manifests[format].digest,
          platform: p.platform,
        })),
      }),
    );
  }
  return build;
}

/** One document per manifest family (Docker and OCI media types), built the same way. */
function inBothFormats(
  make: (media: (typeof FORMAT_MEDIA)[ManifestFormat], format: ManifestFormat) => Document,
): Record<ManifestFormat, Document> {
  return { docker: make(FORMAT_MEDIA.docker, "docker"), oci: make(FORMAT_MEDIA.oci, "oci") };
}
