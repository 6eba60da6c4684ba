import { readFileSync } from "node:fs";
import { ConfigError, parseYaml } from "../../vocabulary/config/yaml-file.ts";
import { type Scenario, scenarioSchema } from "./schema.ts";

/** Cross-field checks the schema cannot express; each names its field. */
function problems(s: Scenario): string[] {
  const out: string[] = [];
  const images = new Set(s.images.map((i) => i.name));
  const designs = new Set(s.designs.map((d) => d.name));
  if (designs.size !== s.designs.length) out.push("designs: two designs share a name");
  s.fleet.pods.forEach((p, i) => {
    if (!images.has(p)) out.push(`fleet.pods.${i}: no image named "${p}" in images`);
  });
  s.workload.forEach((w, i) => {
    const named = "image" in w ? [w.image] : "images" in w ? w.images : [];
    for (const n of named)
      if (!images.has(n)) out.push(`workload.${i}: no image named "${n}" in images`);
    if (w.at > s.duration) out.push(`workload.${i}.at: after the scenario's end`);
    if (w.type === "ci-fan-out" && s.fleet.ciRunners === 0)
      out.push(`workload.${i}: ci-fan-out needs fleet.ciRunners`);
    if (w.type === "arrivals" && w.desktops > 0 && s.fleet.desktops < w.desktops)
      out.push(`workload.${i}.desktops: more than fleet.desktops (${s.fleet.desktops})`);
  });
  s.expectations.forEach((e, i) => {
    if (!designs.has(e.design)) out.push(`expectations.${i}.design: no design named "${e.design}"`);
  });
  return out;
}

export function parseScenario(text: string, file: string): Scenario {
  const scenario = parseYaml(text, file, scenarioSchema);
  const more = problems(scenario);
  if (more.length > 0) throw new ConfigError(more.map((p) => `${file}: ${p}`));
  return scenario;
}

/** Reads and validates a scenario; every problem names file, line and field (ConfigError). */
export function loadScenario(file: string): Scenario {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError([
      `${file}: cannot read (${(error as NodeJS.ErrnoException).code ?? "error"})`,
    ]);
  }
  return parseScenario(text, file);
}
