import { type ImageSpec, LINUX_AMD64, LINUX_ARM64 } from "./spec.ts";

/** Layer count and size left out here are drawn from the seed by the catalog. */
export type ImageDraft = Omit<ImageSpec, "layers" | "layerSize"> &
  Partial<Pick<ImageSpec, "layers" | "layerSize">>;

const MULTI_ARCH = [LINUX_AMD64, LINUX_ARM64];

/**
 * The images every pullstorm registry serves. `library/*` are multi-arch
 * Docker manifest lists, as on Docker Hub. `ratelimitpreview/test` is the image
 * Docker documents for checking one's pull limit.
 */
export const BUILTIN_IMAGES: ImageDraft[] = [
  {
    name: "library/nginx",
    tags: { "1.25": {}, latest: {} },
    platforms: MULTI_ARCH,
    base: "debian",
    format: "docker",
  },
  {
    name: "library/redis",
    tags: { "7": {}, latest: {} },
    platforms: MULTI_ARCH,
    base: "debian",
    format: "docker",
  },
  {
    name: "library/alpine",
    tags: { "3.20": {}, latest: {} },
    platforms: MULTI_ARCH,
    base: "alpine",
    format: "docker",
  },
  {
    name: "library/node",
    tags: { "20": {}, latest: {} },
    platforms: MULTI_ARCH,
    base: "debian",
    format: "docker",
  },
  {
    name: "library/postgres",
    tags: { "16": {}, latest: {} },
    platforms: MULTI_ARCH,
    base: "debian",
    format: "docker",
  },
  {
    name: "library/busybox",
    tags: { latest: {} },
    platforms: MULTI_ARCH,
    base: "busybox",
    format: "docker",
  },
  {
    name: "myorg/api",
    tags: { latest: {} },
    platforms: [LINUX_AMD64],
    base: "alpine",
    format: "oci",
  },
  {
    name: "ratelimitpreview/test",
    tags: { latest: {} },
    platforms: [LINUX_AMD64],
    base: "busybox",
    format: "docker",
  },
];
