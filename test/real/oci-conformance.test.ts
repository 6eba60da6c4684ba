// The OCI distribution-spec conformance suite (github.com/opencontainers/distribution-spec/
// conformance, built by scripts/build-go-tools.sh) against the fake registry: its pull and
// content-discovery workflows (ping, tag list, manifests and blobs by tag and digest, GET and
// HEAD, referrers, missing and invalid manifests), read-only (push and delete off), on a
// single-arch OCI image and on a Docker multi-arch index, anonymously and as an account.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningRegistry } from "../../fake-registry/index.ts";
import { runCommand } from "../helpers/processes.ts";
import { ALICE, startRegistry } from "../helpers/registry.ts";
import { checkBuiltTools } from "../helpers/tools.ts";

const tools = checkBuiltTools("conformance.test");

/** The suite's read-only inputs for one repository: its tags and every digest under them. */
async function readOnlyData(running: RunningRegistry, name: string) {
  const catalog = running.registry.catalog;
  const tags = catalog.tags(name) ?? [];
  const manifests = new Set<string>();
  const blobs = new Set<string>();
  for (const tag of tags) {
    const build = await catalog.resolveTag(name, tag, 0);
    if (!build) throw new Error(`${name}:${tag} does not resolve`);
    if (build.index) manifests.add(build.index.oci.digest);
    for (const p of build.platforms) {
      manifests.add(p.manifests.oci.digest);
      blobs.add(p.config.digest);
      for (const l of p.layers) blobs.add(l.digest);
    }
  }
  return { tags, manifests: [...manifests], blobs: [...blobs] };
}

/** The suite's summary: its result line, counts, and each API's status. */
function summary(stdout: string) {
  const count = (label: string) =>
    Number(new RegExp(`^\\s+${label}\\.+:\\s+(\\d+)$`, "m").exec(stdout)?.[1] ?? Number.NaN);
  const api = (label: string) =>
    new RegExp(`^\\s+${label}\\.+:\\s+(\\S+)$`, "m").exec(stdout)?.[1] ?? "missing";
  return {
    result: /^OCI Conformance Result: (\S+)$/m.exec(stdout)?.[1] ?? "missing",
    pass: count("Pass"),
    fail: count("FAIL"),
    error: count("Error"),
    api,
  };
}

const WORKFLOW_APIS = [
  "Ping",
  "Tag listing",
  "Manifest get by tag",
  "Manifest get by digest",
  "Manifest head by tag",
  "Manifest head by digest",
  "Blob get",
  "Blob head",
  "Referrers",
];

describe("OCI distribution-spec conformance: pull and content discovery", () => {
  let running: RunningRegistry;
  let work: string;
  beforeAll(async () => {
    running = await startRegistry({ accounts: [ALICE] });
    work = mkdtempSync(join(tmpdir(), "pullstorm-conformance-"));
  });
  afterAll(async () => {
    await running?.close();
    rmSync(work, { recursive: true, force: true });
  });

  const cases = [
    { repo: "myorg/api", as: "anonymous" },
    { repo: "myorg/api", as: "alice" },
    { repo: "library/nginx", as: "anonymous" },
    { repo: "library/nginx", as: "alice" },
  ] as const;
  for (const { repo, as } of cases) {
    it(`${repo}, ${as}: 0 failures`, async (ctx) => {
      if (!tools.available) return ctx.skip(tools.reason);
      const data = await readOnlyData(running, repo);
      const before = running.registry.stats.snapshot();
      const results = join(work, `${repo.replace("/", "-")}-${as}`);
      const run = await runCommand(tools.path("conformance.test"), ["-test.timeout", "120s"], {
        cwd: work,
        timeoutMs: 180_000,
        env: {
          ...process.env,
          OCI_REGISTRY: running.url.replace("http://", ""),
          OCI_TLS: "disabled",
          OCI_REPO1: repo,
          OCI_REPO2: repo,
          OCI_USERNAME: as === "alice" ? ALICE.name : "",
          OCI_PASSWORD: as === "alice" ? ALICE.password : "",
          OCI_API_PUSH: "false",
          OCI_API_BLOBS_DELETE: "false",
          OCI_API_MANIFESTS_DELETE: "false",
          OCI_API_TAGS_DELETE: "false",
          OCI_RO_DATA_TAGS: data.tags.join(" "),
          OCI_RO_DATA_MANIFESTS: data.manifests.join(" "),
          OCI_RO_DATA_BLOBS: data.blobs.join(" "),
          OCI_RO_DATA_REFERRERS: data.manifests.join(" "),
          OCI_RESULTS_DIR: results,
          OCI_LOG: "warn",
        },
      });
      // The suite ends by writing results.yaml, which panics on a read-only run (a nil data
      // entry in its own report writer, after every test has run and the summary is printed):
      // its exit status says nothing here, the summary does.
      const s = summary(run.stdout);
      const detail = `${run.stdout.slice(0, 4000)}\n${run.stderr.slice(0, 2000)}`;
      expect(s.result, detail).toBe("Pass");
      expect(s.fail, detail).toBe(0);
      expect(s.error, detail).toBe(0);
      expect(s.pass, detail).toBeGreaterThanOrEqual(10 + data.blobs.length);
      for (const name of WORKFLOW_APIS) expect(s.api(name), `${name}\n${detail}`).toBe("Pass");
      // It was this registry that answered, and as whom.
      const after = running.registry.stats.snapshot();
      expect(after.total - before.total).toBeGreaterThan(20);
      if (as === "alice") expect(after.byIdentity.alice?.total ?? 0).toBeGreaterThan(0);
    }, 200_000);
  }
});
