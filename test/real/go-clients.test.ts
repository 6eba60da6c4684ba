// crane (go-containerregistry) and regctl (regclient) against the fake registry, both
// built by scripts/build-go-tools.sh: the repository list, tags, manifests, pulls that
// verify by digest, anonymously and logged in (a private repository is listed to its
// user only).
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningRegistry } from "../../fake-registry/index.ts";
import { runCommand } from "../helpers/processes.ts";
import { ALICE, startRegistry } from "../helpers/registry.ts";
import { checkBuiltTools } from "../helpers/tools.ts";

const tools = checkBuiltTools("crane", "regctl");

const PRIVATE = {
  name: "private/app",
  tags: { latest: {} },
  platforms: [{ os: "linux", architecture: "amd64" }],
  base: "alpine",
  format: "oci" as const,
  users: [ALICE.name],
};

/** Every blob of an OCI layout hashes to its name; returns how many. */
function verifyLayout(dir: string): number {
  const blobs = join(dir, "blobs", "sha256");
  let verified = 0;
  for (const file of readdirSync(blobs)) {
    const actual = createHash("sha256")
      .update(readFileSync(join(blobs, file)))
      .digest("hex");
    expect(actual, file).toBe(file);
    verified++;
  }
  return verified;
}

describe("crane and regctl against the fake registry", () => {
  let running: RunningRegistry;
  let host: string;
  let work: string;
  let publicNames: string[];
  beforeAll(async () => {
    running = await startRegistry({ accounts: [ALICE], images: [PRIVATE] });
    host = running.url.replace("http://", "");
    work = mkdtempSync(join(tmpdir(), "pullstorm-go-clients-"));
    publicNames = running.registry.catalog.names().filter((n) => n !== PRIVATE.name);
  });
  afterAll(async () => {
    await running?.close();
    rmSync(work, { recursive: true, force: true });
  });

  /** A tool run with its own home (crane's DOCKER_CONFIG, regctl's ~/.regctl), so logins stay here. */
  function run(tool: "crane" | "regctl", args: string[], home: string) {
    return runCommand(tools.path(tool), args, {
      timeoutMs: 60_000,
      env: { ...process.env, HOME: home, DOCKER_CONFIG: join(home, ".docker") },
    });
  }

  it("crane: catalog, ls, manifest, pull and validate, anonymous and logged in", async (ctx) => {
    if (!tools.available) return ctx.skip(tools.reason);
    const home = join(work, "crane-home");
    const crane = async (...args: string[]) => {
      const r = await run("crane", [...args, "--insecure"], home);
      expect(r.status, `crane ${args.join(" ")}\n${r.stderr}`).toBe(0);
      return r.stdout;
    };
    expect((await crane("catalog", host)).trim().split("\n")).toEqual(publicNames);
    expect((await crane("ls", `${host}/library/nginx`)).trim().split("\n")).toEqual([
      "1.25",
      "latest",
    ]);
    const manifest = await crane("manifest", `${host}/library/nginx:1.25`);
    const index = JSON.parse(manifest);
    expect(index.mediaType).toBe("application/vnd.docker.distribution.manifest.list.v2+json");
    const digest = (await crane("digest", `${host}/library/nginx:1.25`)).trim();
    expect(digest).toBe(`sha256:${createHash("sha256").update(manifest).digest("hex")}`);
    expect(await crane("validate", "--remote", `${host}/library/nginx:1.25`)).toMatch(/^PASS: /);
    const tarball = join(work, "api.tar");
    await crane("pull", `${host}/myorg/api:latest`, tarball);
    expect(await crane("validate", "--tarball", tarball)).toMatch(/^PASS: /);
    const layout = join(work, "crane-layout");
    await crane("pull", "--format", "oci", `${host}/myorg/api:latest`, layout);
    expect(verifyLayout(layout)).toBeGreaterThanOrEqual(3);

    // The private repository: not listed, not pullable anonymously; both once logged in.
    const anonymous = await run(
      "crane",
      ["manifest", `${host}/private/app:latest`, "--insecure"],
      home,
    );
    expect(anonymous.status).not.toBe(0);
    const login = await run(
      "crane",
      ["auth", "login", host, "-u", ALICE.name, "-p", ALICE.password],
      home,
    );
    expect(login.status, login.stderr).toBe(0);
    expect((await crane("catalog", host)).trim().split("\n")).toContain("private/app");
    expect(await crane("validate", "--remote", `${host}/private/app:latest`)).toMatch(/^PASS: /);
    expect(running.registry.stats.snapshot().byIdentity.alice?.total ?? 0).toBeGreaterThan(0);
  });

  it("regctl: repo ls, tag ls and image copy, anonymous and logged in", async (ctx) => {
    if (!tools.available) return ctx.skip(tools.reason);
    const home = join(work, "regctl-home");
    const regctl = async (...args: string[]) => {
      const r = await run("regctl", args, home);
      expect(r.status, `regctl ${args.join(" ")}\n${r.stderr}`).toBe(0);
      return r.stdout;
    };
    await regctl("registry", "set", host, "--tls", "disabled");
    expect((await regctl("repo", "ls", host)).trim().split("\n")).toEqual(publicNames);
    expect((await regctl("tag", "ls", `${host}/library/redis`)).trim().split("\n")).toEqual([
      "7",
      "latest",
    ]);
    const layout = join(work, "regctl-layout");
    await regctl("image", "copy", `${host}/library/nginx:1.25`, `ocidir://${layout}:1.25`);
    // The index, both platforms' manifests and configs, and their layers, all verified.
    expect(verifyLayout(layout)).toBeGreaterThanOrEqual(7);
    const copied = JSON.parse(readFileSync(join(layout, "index.json"), "utf8"));
    const build = await running.registry.catalog.resolveTag("library/nginx", "1.25", 0);
    expect(copied.manifests[0].digest).toBe(build?.index?.docker.digest);

    const login = await run(
      "regctl",
      ["registry", "login", host, "-u", ALICE.name, "-p", ALICE.password],
      home,
    );
    expect(login.status, login.stderr).toBe(0);
    expect((await regctl("repo", "ls", host)).trim().split("\n")).toContain("private/app");
    await regctl(
      "image",
      "copy",
      `${host}/private/app:latest`,
      `ocidir://${join(work, "private")}:latest`,
    );
    expect(verifyLayout(join(work, "private"))).toBeGreaterThanOrEqual(3);
  });
});
