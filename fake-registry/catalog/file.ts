import { z } from "zod";
import { durationSchema, sizeSchema } from "../../vocabulary/config/schemas.ts";
import { loadYamlFile } from "../../vocabulary/config/yaml-file.ts";
import { checkName, isTag } from "../../vocabulary/oci/names.ts";
import type { ImageDraft } from "./builtin.ts";
import { LINUX_AMD64, LINUX_ARM64, type Platform, type TagSpec } from "./spec.ts";

const duration = durationSchema();
const size = sizeSchema;
const platform = z.string().transform((v, ctx): Platform => {
  const [os, architecture, variant] = v.split("/");
  if (!os || !architecture) {
    ctx.addIssue({
      code: "custom",
      message: `"${v}" is not a platform; write os/arch[/variant], e.g. linux/arm64`,
    });
    return z.NEVER;
  }
  if (v === "linux/amd64") return LINUX_AMD64;
  if (v === "linux/arm64" || v === "linux/arm64/v8") return LINUX_ARM64;
  return variant ? { os, architecture, variant } : { os, architecture };
});

const tagName = z
  .string()
  .refine(isTag, { message: "a tag matches [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}" });

const tagSpec = z
  .object({
    moves: z
      .object({ every: duration.optional(), at: z.array(duration).optional() })
      .strict()
      .refine((m) => m.every !== undefined || m.at !== undefined, {
        message: "moves needs `every` (a duration) or `at` (a list of durations)",
      })
      .optional(),
  })
  .strict();

const imageSchema = z
  .object({
    name: z.string().superRefine((n, ctx) => {
      const check = checkName(n);
      if (!check.ok) ctx.addIssue({ code: "custom", message: check.reason });
    }),
    tags: z.union([z.array(tagName).min(1), z.record(tagName, tagSpec.nullable())]),
    platforms: z.array(platform).min(1).optional(),
    layers: z.number().int().min(1).max(128).optional(),
    layerSize: size.optional(),
    base: z
      .string()
      .regex(/^[a-z0-9-]+$/)
      .optional(),
    format: z.enum(["docker", "oci"]).optional(),
    users: z.array(z.string()).optional(),
  })
  .strict();

export const catalogFileSchema = z
  .object({
    defaults: z
      .object({ layers: z.number().int().min(1).max(128).optional(), layerSize: size.optional() })
      .strict()
      .optional(),
    images: z.array(imageSchema).default([]),
  })
  .strict();

export interface CatalogFile {
  defaults: { layers?: number; layerSize?: number };
  images: ImageDraft[];
}

/** Turns a validated catalog file into image drafts (library/* default to multi-arch, as on Docker Hub). */
export function draftsFrom(data: z.output<typeof catalogFileSchema>): CatalogFile {
  const images = data.images.map((img): ImageDraft => {
    const tags: Record<string, TagSpec> = Array.isArray(img.tags)
      ? Object.fromEntries(img.tags.map((t) => [t, {}]))
      : Object.fromEntries(Object.entries(img.tags).map(([t, spec]) => [t, spec ?? {}]));
    const draft: ImageDraft = {
      name: img.name,
      tags,
      platforms:
        img.platforms ??
        (img.name.startsWith("library/") ? [LINUX_AMD64, LINUX_ARM64] : [LINUX_AMD64]),
      base: img.base ?? "debian",
      format: img.format ?? (img.name.startsWith("library/") ? "docker" : "oci"),
    };
    if (img.layers !== undefined) draft.layers = img.layers;
    if (img.layerSize !== undefined) draft.layerSize = img.layerSize;
    if (img.users !== undefined) draft.users = img.users;
    return draft;
  });
  const defaults: CatalogFile["defaults"] = {};
  if (data.defaults?.layers !== undefined) defaults.layers = data.defaults.layers;
  if (data.defaults?.layerSize !== undefined) defaults.layerSize = data.defaults.layerSize;
  return { defaults, images };
}

export function loadCatalogFile(file: string): CatalogFile {
  return draftsFrom(loadYamlFile(file, catalogFileSchema));
}
