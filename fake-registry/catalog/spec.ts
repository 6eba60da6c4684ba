import type { ManifestFormat } from "../../vocabulary/oci/media-types.ts";

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export const LINUX_AMD64: Platform = { os: "linux", architecture: "amd64" };
export const LINUX_ARM64: Platform = { os: "linux", architecture: "arm64", variant: "v8" };

/** How a tag moves to new content over registry time (the `:latest` stories). */
export interface TagMoves {
  /** Moves every this many milliseconds of registry time. */
  every?: number;
  /** Moves at each of these offsets (ms of registry time since start). */
  at?: number[];
}

export interface TagSpec {
  moves?: TagMoves;
}

export interface ImageSpec {
  name: string;
  tags: Record<string, TagSpec>;
  platforms: Platform[];
  /** Layers per platform image, the shared base layer included. */
  layers: number;
  /** Approximate size of each layer in bytes. */
  layerSize: number;
  /** Images on the same base share their first layer, as real images share a distro layer. */
  base: string;
  format: ManifestFormat;
  /** Accounts allowed to pull; undefined means public. */
  users?: string[];
}

export function platformKey(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join("/");
}

/** The generation of a tag's content at a given registry time. */
export function tagGeneration(tag: TagSpec, elapsedMs: number): number {
  const moves = tag.moves;
  if (!moves) return 0;
  let generation = 0;
  if (moves.every && moves.every > 0)
    generation += Math.floor(Math.max(0, elapsedMs) / moves.every);
  if (moves.at) generation += moves.at.filter((t) => t <= elapsedMs).length;
  return generation;
}
