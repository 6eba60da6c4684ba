// skopeo (containers/image) pulls from the fake registry through the Docker token
// flow, both platforms of a multi-arch index, and every blob verifies by digest.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningRegistry } from "../../fake-registry/index.ts";
import { verifyDirCopy } from "../helpers/digests.ts";
import { runCommand } from "../helpers/processes.ts";
import { ALICE, startRegistry } from "../helpers/registry.ts";
import { checkTools } from "../helpers/tools.ts";

const tools = checkTools("skopeo");

function skopeo(args: string[]) {
  return runCommand("skopeo", args, { timeoutMs: 60_000 });
}

describe("skopeo against the fake registry", () => {
  let running: RunningRegistry;
  let work: string;

  beforeAll(async () => {
    running = await startRegistry({ accounts: [ALICE] });
    work = mkdtempSync(join(tmpdir(), "pullstorm-skopeo-"));
  });
  afterAll(async () => {
    await running?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it("copies library/nginx:1.25 --all through the token flow and every digest verifies", async (ctx) => {
    if (!tools.available) return ctx.skip(tools.reason);
    const host = running.url.replace("http://", "");
    const dest = join(work, "nginx");
    const result = await skopeo([
      "copy",
      "--all",
      "--src-tls-verify=false",
      `docker://${host}/library/nginx:1.25`,
      `dir:${dest}`,
    ]);
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    const index = JSON.parse(readFileSync(join(dest, "manifest.json"), "utf8"));
    expect(index.mediaType).toBe("application/vnd.docker.distribution.manifest.list.v2+json");
    expect(
      index.manifests.map((m: { platform: { architecture: string } }) => m.platform.architecture),
    ).toEqual(["amd64", "arm64"]);
    // index + 2 platform manifests + 2 configs + at least 2 layers each
    expect(verifyDirCopy(dest)).toBeGreaterThanOrEqual(8);
    const stats = running.registry.stats.snapshot();
    expect(stats.byKind.token?.GET?.["200"]).toBeGreaterThanOrEqual(1);
    expect(
      stats.byKind.manifest?.GET?.["401"] ?? stats.byKind.ping?.GET?.["401"],
    ).toBeGreaterThanOrEqual(1);
    expect(stats.byIdentity["127.0.0.1"]?.type).toBe("anonymous");
  });

  it("authenticates with --src-creds and is counted against the account", async (ctx) => {
    if (!tools.available) return ctx.skip(tools.reason);
    running.registry.stats.reset();
    const host = running.url.replace("http://", "");
    const result = await skopeo([
      "inspect",
      "--raw",
      "--tls-verify=false",
      `--creds=${ALICE.name}:${ALICE.password}`,
      `docker://${host}/myorg/api:latest`,
    ]);
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout).mediaType).toBe("application/vnd.oci.image.manifest.v1+json");
    const stats = running.registry.stats.snapshot();
    expect(stats.byIdentity.alice?.byKind.manifest?.GET?.["200"]).toBe(1);
  });

  it("reports a wrong password as an authentication failure", async (ctx) => {
    if (!tools.available) return ctx.skip(tools.reason);
    const host = running.url.replace("http://", "");
    const result = await skopeo([
      "inspect",
      "--raw",
      "--tls-verify=false",
      `--creds=${ALICE.name}:wrong`,
      `docker://${host}/myorg/api:latest`,
    ]);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/401|unauthorized|incorrect username or password/i);
  });
});
