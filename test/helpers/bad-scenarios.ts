// The bad-scenario table: the good base file (test/fixtures/bad-scenarios/base.yaml)
// with one typo each, and the one problem each must give (file:line:col, field,
// message with its suggestion). Used in-process (test/scenario-validation.test.ts)
// and through the CLI's `scenario validate` and `run` (test/real/run-cli.test.ts).
import { readFileSync } from "node:fs";
import { join } from "node:path";

export const BASE = readFileSync(
  join(import.meta.dirname, "..", "fixtures", "bad-scenarios", "base.yaml"),
  "utf8",
);

/** The base scenario with one text replaced (the replaced text must be there). */
export function typo(from: string, to: string): string {
  if (!BASE.includes(from)) throw new Error(`base.yaml has no "${from}"`);
  return BASE.replace(from, to);
}

/** Each bad file: the edit, and the problem expected (file:line:col, field, message with its suggestion). */
export const BAD_FILES: Array<{ name: string; text: string; problem: string }> = [
  {
    name: "plan-typo",
    text: typo("plan: free", "plan: freee"),
    problem:
      'x.yaml:21:11: designs.1.plan: unknown plan "freee"; did you mean free? (the dockerhub-2020 policy\'s plans: business, free, personal, pro, team)',
  },
  {
    name: "preset-typo",
    text: typo("preset: dockerhub-2020", "preset: dockerhub-2026"),
    problem:
      'x.yaml:5:11: registry.preset: unknown preset "dockerhub-2026"; did you mean dockerhub-2020? (presets: ',
  },
  {
    name: "key-typo",
    text: typo("runtime: containerd", "runtim: containerd"),
    problem: 'x.yaml:11:3: fleet.runtim: unknown key "runtim"; did you mean runtime?',
  },
  {
    name: "step-key-typo",
    text: typo("    nodes: 4\ndesigns", "    node: 4\ndesigns"),
    problem: 'x.yaml:16:5: workload.0.node: unknown key "node"; did you mean nodes?',
  },
  {
    name: "design-key-typo",
    text: typo("    auth: account-per-actor", "    auth: account-per-actor\n    egresIps: 4"),
    problem: 'x.yaml:21:5: designs.1.egresIps: unknown key "egresIps"; did you mean egressIps?',
  },
  {
    name: "image-typo",
    text: typo('"library/nginx:1.25"', '"library/ngnix:1.25"'),
    problem:
      "x.yaml:7:23: images.0.ref: library/ngnix is not in the registry's catalog; did you mean library/nginx?; add it under registry.catalog, or set absent: true on the image if the 404 is the story",
  },
  {
    name: "tag-typo",
    text: typo('"library/redis:7"', '"library/redis:77"'),
    problem:
      'x.yaml:8:25: images.1.ref: library/redis has no tag "77" in the registry\'s catalog; did you mean 7? (tags: 7, latest); add it under registry.catalog',
  },
  {
    name: "absent-but-present",
    text: typo('"library/redis:7" }', '"library/redis:7", absent: true }'),
    problem:
      "x.yaml:8:52: images.1.absent: absent: true, but the catalog has library/redis:7: its pulls would not get 404",
  },
  {
    name: "policy-preset-typo",
    text: typo(
      "preset: dockerhub-2020",
      "preset: dockerhub-2020\n  policy:\n    preset: dockerhub-curent",
    ),
    problem:
      'x.yaml:7:13: registry.policy.preset: unknown preset "dockerhub-curent"; did you mean dockerhub-current?',
  },
  {
    name: "policy-rule-typo",
    text: typo(
      "preset: dockerhub-2020",
      "preset: dockerhub-2020\n  policy:\n    limits:\n      pull: { free: { limit: 5, window: 1h } }",
    ),
    problem: 'x.yaml:8:13: registry.policy.limits.pull: no rule named "pull" (rules: abuse, pulls)',
  },
  {
    name: "pod-image-typo",
    text: typo("pods: [web, cache]", "pods: [web, cahce]"),
    problem: 'x.yaml:12:15: fleet.pods.1: no image named "cahce" in images; did you mean cache?',
  },
  {
    name: "expectation-design-typo",
    text: typo("{ design: accounts,", "{ design: acounts,"),
    problem:
      'x.yaml:23:15: expectations.0.design: no design named "acounts"; did you mean accounts?',
  },
  {
    name: "fault-typo",
    text: `${BASE}faults:\n  - { type: outage, schedule: { start: 5m, duraton: 1m } }\n`,
    problem: "x.yaml:25:53: faults.0.schedule.duraton: unknown field",
  },
];
