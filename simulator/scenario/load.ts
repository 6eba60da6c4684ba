import { readFileSync } from "node:fs";
import { BUILTIN_IMAGES } from "../../fake-registry/catalog/builtin.ts";
import { draftsFrom } from "../../fake-registry/catalog/file.ts";
import { compileFault } from "../../fake-registry/faults/spec.ts";
import { buildPolicy } from "../../fake-registry/policy/file.ts";
import { planProblem } from "../../fake-registry/policy/plans.ts";
import type { Policy } from "../../fake-registry/policy/types.ts";
import { suggestion } from "../../vocabulary/config/suggest.ts";
import {
  ConfigError,
  type FieldPath,
  issueProblems,
  YamlSource,
} from "../../vocabulary/config/yaml-file.ts";
import { parseReference } from "../../vocabulary/oci/reference.ts";
import { fleetImages } from "../workload/stage.ts";
import { type Scenario, scenarioSchema } from "./schema.ts";

/** A problem (stops the run) or a warning (said, and the run goes on), at a field. */
interface Finding {
  path: FieldPath;
  message: string;
  warning?: boolean;
}

/** "limits.pulls: no rule ..." from buildPolicy or compileFault: the path and the message. */
function splitField(text: string, under: FieldPath): Finding {
  const m = /^([\w.-]+|\(top level\)): (.*)$/s.exec(text);
  if (!m || m[1] === "(top level)") return { path: under, message: m?.[2] ?? text };
  const parts = (m[1] as string).split(".").map((p) => (/^\d+$/.test(p) ? Number(p) : p));
  return { path: [...under, ...parts], message: m[2] as string };
}

/**
 * An origin registry's images as the scenario sees them: Docker Hub's built-in catalog
 * plus `registry.catalog`, or another registry's `catalog` alone.
 */
function catalogTags(s: Scenario, host: string): Map<string, string[]> {
  const tags = new Map<string, string[]>();
  const catalog = host ? s.registries.find((r) => r.host === host)?.catalog : s.registry.catalog;
  if (!host) for (const d of BUILTIN_IMAGES) tags.set(d.name, Object.keys(d.tags));
  if (catalog) for (const d of draftsFrom(catalog).images) tags.set(d.name, Object.keys(d.tags));
  return tags;
}

/** The images checked against the catalog: an image that is not there is a 404 story, on purpose only. */
function imageFindings(s: Scenario): Finding[] {
  const out: Finding[] = [];
  const hosts = new Set(s.registries.map((r) => r.host));
  s.images.forEach((image, i) => {
    const ref = parseReference(image.ref);
    if ("error" in ref) return; // the schema said so already
    if (ref.registry && !hosts.has(ref.registry)) {
      out.push({
        path: ["images", i, "ref"],
        message: `${image.ref} is on ${ref.registry}, which is not under registries; add { host: ${ref.registry}, preset: ... } there (\`pullstorm registry presets\` lists them; unlimited for a registry that does not throttle)${suggestion(ref.registry, hosts)}`,
      });
      return;
    }
    const where = ref.registry
      ? `registries.${s.registries.findIndex((r) => r.host === ref.registry)}.catalog`
      : "registry.catalog";
    const catalog = catalogTags(s, ref.registry ?? "");
    const tags = catalog.get(ref.repository);
    let missing: string | undefined;
    if (!tags)
      missing = `${ref.repository} is not in ${ref.registry ?? "the registry"}'s catalog${suggestion(ref.repository, catalog.keys())}`;
    else if (ref.tag !== undefined && !ref.digest && !tags.includes(ref.tag))
      missing = `${ref.repository} has no tag "${ref.tag}" in the registry's catalog${suggestion(ref.tag, tags)} (tags: ${tags.join(", ")})`;
    if (missing && image.absent)
      out.push({
        path: ["images", i, "ref"],
        message: `${missing}: its pulls get 404 (absent: true)`,
        warning: true,
      });
    else if (missing)
      out.push({
        path: ["images", i, "ref"],
        message: `${missing}; add it under ${where}, or set absent: true on the image if the 404 is the story`,
      });
    else if (image.absent)
      out.push({
        path: ["images", i, "absent"],
        message: `absent: true, but the catalog has ${ref.repository}${ref.tag ? `:${ref.tag}` : ""}: its pulls would not get 404`,
      });
  });
  for (const [i, step] of s.workload.entries()) {
    if (step.type !== "tag-move") continue;
    const image = s.images.find((x) => x.name === step.image);
    const ref = image ? parseReference(image.ref) : undefined;
    if (ref && !("error" in ref) && (ref.tag === undefined || ref.digest !== undefined))
      out.push({
        path: ["workload", i, "image"],
        message: `tag-move of "${step.image}": its ref ${image?.ref} names no tag to move (a digest never moves)`,
      });
    else if (ref && !("error" in ref) && image?.absent)
      out.push({
        path: ["workload", i, "image"],
        message: `tag-move of "${step.image}": the image is absent from the catalog`,
      });
  }
  return out;
}

/** Cross-field checks the schema cannot express; each names its field. */
function findings(s: Scenario): Finding[] {
  const out: Finding[] = [];
  const at = (path: FieldPath, message: string) => out.push({ path, message });
  const images = new Set(s.images.map((i) => i.name));
  const designs = new Set(s.designs.map((d) => d.name));
  s.designs.forEach((d, i) => {
    if (s.designs.findIndex((x) => x.name === d.name) !== i)
      at(["designs", i, "name"], `another design is named "${d.name}"`);
  });
  s.images.forEach((img, i) => {
    if (s.images.findIndex((x) => x.name === img.name) !== i)
      at(["images", i, "name"], `another image is named "${img.name}"`);
  });
  s.registries.forEach((r, i) => {
    if (s.registries.findIndex((x) => x.host === r.host) !== i)
      at(["registries", i, "host"], `${r.host} is listed twice`);
  });
  const run = new Set(fleetImages(s));
  s.fleet.pods.forEach((p, i) => {
    const name = typeof p === "string" ? p : p.image;
    const path: FieldPath =
      typeof p === "string" ? ["fleet", "pods", i] : ["fleet", "pods", i, "image"];
    if (!images.has(name))
      at(path, `no image named "${name}" in images${suggestion(name, images)}`);
    if (typeof p !== "string" && s.fleet.nodes === 0)
      at(["fleet", "pods", i, "replicas"], "replicas are spread over fleet.nodes, which is 0");
  });
  s.workload.forEach((w, i) => {
    if ("image" in w && !images.has(w.image))
      at(
        ["workload", i, "image"],
        `no image named "${w.image}" in images${suggestion(w.image, images)}`,
      );
    if ("images" in w)
      w.images.forEach((n, j) => {
        if (!images.has(n))
          at(
            ["workload", i, "images", j],
            `no image named "${n}" in images${suggestion(n, images)}`,
          );
      });
    if (w.at > s.duration) at(["workload", i, "at"], "after the scenario's end");
    if (
      (w.type === "rolling-restart" || w.type === "rollout") &&
      images.has(w.image) &&
      !run.has(w.image)
    )
      out.push({
        path: ["workload", i, "image"],
        message: `no fleet pod runs "${w.image}" (fleet.pods): the ${w.type} restarts nothing`,
        warning: true,
      });
    if (w.type === "ci-fan-out" && s.fleet.ciRunners === 0)
      at(["workload", i], "ci-fan-out needs fleet.ciRunners");
    if (w.type === "arrivals" && w.desktops > 0 && s.fleet.desktops < w.desktops)
      at(["workload", i, "desktops"], `more than fleet.desktops (${s.fleet.desktops})`);
  });
  s.expectations.forEach((e, i) => {
    if (!designs.has(e.design))
      at(
        ["expectations", i, "design"],
        `no design named "${e.design}"${suggestion(e.design, designs)}`,
      );
  });

  // The policies the registries will run: each preset with the scenario's changes.
  const secrets = s.images.some((i) => i.pullSecret);
  const origins: Array<{ under: FieldPath; preset: string; policy?: unknown }> = [
    { under: ["registry", "policy"], ...s.registry },
    ...s.registries.map((r, i) => ({ under: ["registries", i, "policy"] as FieldPath, ...r })),
  ];
  const policies: Policy[] = [];
  for (const origin of origins) {
    const built = buildPolicy((origin.policy ?? {}) as never, origin.preset);
    if ("errors" in built) out.push(...built.errors.map((e) => splitField(e, origin.under)));
    else policies.push(built);
  }
  // Every account's plan must be one each policy names (accounts are made at every
  // registry): an unknown plan would be unlimited. The first policy that refuses it says so.
  s.designs.forEach((d, i) => {
    const accounts =
      d.auth !== "anonymous" || secrets || (d.mirror?.enabled && d.mirror.upstreamAuth);
    const problem = accounts
      ? policies.map((p) => planProblem(p, d.plan)).find((x) => x !== undefined)
      : undefined;
    if (problem) at(["designs", i, "plan"], problem);
  });

  s.faults.forEach((spec, i) => {
    const compiled = compileFault(spec);
    if (!compiled.ok) out.push(...compiled.errors.map((e) => splitField(e, ["faults", i])));
  });
  out.push(...imageFindings(s));
  return out;
}

/** A scenario that loaded, and what was said about it that does not stop it. */
export interface CheckedScenario {
  scenario: Scenario;
  /** `file:line:col: field: message`, each. */
  warnings: string[];
}

/**
 * The one validation of a scenario, used by `scenario validate`, `run`,
 * `breakpoint` and `k6`: the schema (unknown keys at their own line, with the
 * nearest known key), then what the schema cannot see: images, designs and
 * expectations named, the preset and the policy as the registry will build
 * them, every account's plan against the policy's plans, fault specs, and the
 * images against the registry's catalog. Throws ConfigError with every problem,
 * each `file:line:col: field: message`.
 */
export function checkScenario(text: string, file: string): CheckedScenario {
  const source = new YamlSource(text, file);
  const result = scenarioSchema.safeParse(source.data());
  if (!result.success)
    throw new ConfigError(issueProblems(source, scenarioSchema, result.error.issues));
  const scenario = result.data;
  const found = findings(scenario);
  const problems = found.filter((f) => !f.warning);
  if (problems.length > 0)
    throw new ConfigError(problems.map((f) => source.problem(f.path, f.message)));
  return {
    scenario,
    warnings: found.filter((f) => f.warning).map((f) => source.problem(f.path, f.message)),
  };
}

export function parseScenario(text: string, file: string): Scenario {
  return checkScenario(text, file).scenario;
}

/** Reads and checks a scenario file (checkScenario). */
export function readScenario(file: string): CheckedScenario {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError([
      `${file}: cannot read (${(error as NodeJS.ErrnoException).code ?? "error"})`,
    ]);
  }
  return checkScenario(text, file);
}

/** Reads and validates a scenario; every problem names file, line and field (ConfigError). */
export function loadScenario(file: string): Scenario {
  return readScenario(file).scenario;
}
