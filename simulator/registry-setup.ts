import { BUILTIN_IMAGES, type ImageDraft } from "../fake-registry/catalog/builtin.ts";
import type { Catalog } from "../fake-registry/catalog/catalog.ts";
import { draftsFrom } from "../fake-registry/catalog/file.ts";
import type { Clock } from "../fake-registry/core/clock.ts";
import { negotiate } from "../fake-registry/core/negotiate.ts";
import { createRegistry } from "../fake-registry/index.ts";
import { buildPolicy } from "../fake-registry/policy/file.ts";
import type { Policy } from "../fake-registry/policy/types.ts";
import type { Registry } from "../fake-registry/registry/registry.ts";
import { ConfigError } from "../vocabulary/config/yaml-file.ts";
import { CLIENT_ACCEPT } from "../vocabulary/oci/media-types.ts";
import { formatReference, type ImageRef, parseReference } from "../vocabulary/oci/reference.ts";
import type { ContentStore } from "./client/content-store.ts";
import type { Sim } from "./engine/sim.ts";
import type { Scenario } from "./scenario/schema.ts";

/** Registry time for virtual runs: it starts at a fixed instant and follows the simulation. */
/** Registry time when a virtual run's clock reads 0. */
export const SIM_START = Date.UTC(2025, 0, 6, 8, 0);

export class SimClock implements Clock {
  readonly startedAt = SIM_START;
  private readonly sim: Sim;
  constructor(sim: Sim) {
    this.sim = sim;
  }
  now(): number {
    return this.startedAt + this.sim.now();
  }
  tokenNow(): number {
    return this.now();
  }
}

/**
 * One origin registry of a scenario: Docker Hub's (`registry`, host "") or one of
 * `registries` (host as references name it), with its preset, policy and catalog.
 */
export interface OriginSpec {
  host: string;
  preset: string;
  policy?: Scenario["registry"]["policy"];
  catalog?: Scenario["registry"]["catalog"];
}

/** Every origin registry of the scenario: Docker Hub's first, then `registries` in order. */
export function scenarioOrigins(scenario: Scenario): OriginSpec[] {
  return [{ host: "", ...scenario.registry }, ...scenario.registries];
}

/**
 * An origin's catalog: its `catalog` (Docker Hub's on top of the built-in images),
 * with the scenario's tag-move steps of its images turned into tag schedules.
 */
export function scenarioCatalog(
  scenario: Scenario,
  origin: OriginSpec = scenarioOrigins(scenario)[0] as OriginSpec,
): {
  images: ImageDraft[];
  defaults: { layers?: number; layerSize?: number };
} {
  const file = origin.catalog ? draftsFrom(origin.catalog) : { images: [], defaults: {} };
  const drafts = new Map<string, ImageDraft>();
  if (origin.host === "") for (const d of BUILTIN_IMAGES) drafts.set(d.name, structuredClone(d));
  for (const d of file.images) drafts.set(d.name, d);
  const touched = new Set<string>(file.images.map((d) => d.name));
  for (const step of scenario.workload) {
    if (step.type !== "tag-move") continue;
    const image = scenario.images.find((i) => i.name === step.image);
    const ref = parseReference(image?.ref ?? "") as ImageRef;
    if ((ref.registry ?? "") !== origin.host) continue;
    const draft = drafts.get(ref.repository);
    if (!draft || !ref.tag)
      throw new ConfigError([
        `workload: tag-move of "${step.image}": ${ref.repository} is not in the catalog or has no tag`,
      ]);
    const tag = draft.tags[ref.tag] ?? {};
    draft.tags[ref.tag] = { moves: { ...tag.moves, at: [...(tag.moves?.at ?? []), step.at] } };
    touched.add(draft.name);
  }
  return { images: [...touched].map((n) => drafts.get(n) as ImageDraft), defaults: file.defaults };
}

export function scenarioPolicy(
  scenario: Scenario,
  origin: OriginSpec = scenarioOrigins(scenario)[0] as OriginSpec,
): Policy {
  const built = buildPolicy(origin.policy ?? {}, origin.preset);
  const where = origin.host
    ? `registries.${scenario.registries.findIndex((r) => r.host === origin.host)}.policy`
    : "registry.policy";
  if ("errors" in built) throw new ConfigError(built.errors.map((e) => `${where}: ${e}`));
  return built;
}

/**
 * The registry a design runs against: the scenario's policy, catalog and faults
 * (Docker Hub's, the default), or another origin's policy and catalog (the
 * scenario's faults are Docker Hub's).
 */
export function scenarioRegistry(
  scenario: Scenario,
  clock: Clock,
  seed: number,
  tokenSecret?: string,
  controlToken?: string,
  origin: OriginSpec = scenarioOrigins(scenario)[0] as OriginSpec,
): Registry {
  const catalog = scenarioCatalog(scenario, origin);
  const registry = createRegistry({
    seed,
    ...(tokenSecret ? { tokenSecret } : {}),
    ...(controlToken ? { controlToken } : {}),
    clock,
    policy: scenarioPolicy(scenario, origin),
    images: catalog.images,
    defaults: catalog.defaults,
  });
  if (origin.host !== "") return registry;
  const faults = registry.faults as unknown as {
    add(spec: unknown): { ok: boolean; errors?: string[] };
  };
  scenario.faults.forEach((spec, i) => {
    const added = faults.add(spec);
    if (!added.ok) throw new ConfigError((added.errors ?? []).map((e) => `faults.${i}.${e}`));
  });
  return registry;
}

/** What a client gets for a reference at a registry time: the top digest and every blob under it. */
export async function contentOf(
  catalog: Catalog,
  ref: ImageRef,
  elapsedMs: number,
  architecture = "amd64",
): Promise<{ digest: string; blobs: string[] } | undefined> {
  if (!ref.tag) return undefined;
  const build = await catalog.resolveTag(ref.repository, ref.tag, elapsedMs);
  if (!build) return undefined;
  const top = negotiate(build, CLIENT_ACCEPT);
  if (!top) return undefined;
  const platform =
    build.platforms.find((p) => p.platform.architecture === architecture) ?? build.platforms[0];
  if (!platform) return undefined;
  const family = top.mediaType.includes("oci") ? "oci" : "docker";
  const blobs = [
    top.digest,
    platform.manifests[family].digest,
    platform.config.digest,
    ...platform.layers.map((l) => l.digest),
  ];
  return { digest: top.digest, blobs: [...new Set(blobs)] };
}

/**
 * Makes the scenario's images (their manifests and the blobs an amd64 pull
 * fetches) at registry start, so a live run does not spend its scaled clock on
 * gzip. Changes nothing a client sees: the catalog is deterministic.
 */
export async function prewarmImages(
  catalog: Catalog,
  scenario: Scenario,
  origin: OriginSpec = scenarioOrigins(scenario)[0] as OriginSpec,
): Promise<void> {
  for (const image of scenario.images) {
    const ref = parseReference(image.ref);
    if ("error" in ref || !ref.tag || (ref.registry ?? "") !== origin.host) continue;
    const content = await contentOf(catalog, ref, 0);
    for (const digest of content?.blobs ?? []) {
      const handle = await catalog.blob(ref.repository, digest, 0);
      await handle?.load();
    }
  }
}

/** Puts an image into a store as if it had been pulled before (warm caches); `ref` as text or parsed. */
export function seedStore(
  store: ContentStore,
  ref: ImageRef | string,
  content: { digest: string; blobs: string[] },
): void {
  for (const b of content.blobs) store.addBlob(b);
  store.setImage(typeof ref === "string" ? ref : formatReference(ref), content.digest);
}
