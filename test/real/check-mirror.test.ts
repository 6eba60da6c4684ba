// check-mirror against the real programs: containerd's resolver and fetcher
// through `ctr content fetch --hosts-dir`, containers/image (CRI-O's library)
// through skopeo, and CNCF distribution (docker-registry) as the mirror, all on
// loopback stand-ins. One containerd daemon for the whole file; every check
// starts and stops its own registry listeners and mirror.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CheckMirrorOptions, checkMirror } from "../../check-mirror/check.ts";
import { isLoopbackHost } from "../../check-mirror/endpoints.ts";
import type { CheckedPull, CheckMirrorReport } from "../../check-mirror/types.ts";
import {
  CRI_WITHOUT_CONFIG_PATH,
  expectCriReadsNothing,
  fixture,
  readCheckJunit,
} from "../helpers/check-mirror.ts";
import { type PrivateContainerd, startPrivateContainerd } from "../helpers/containerd.ts";
import { runCommand } from "../helpers/processes.ts";
import { checkTools } from "../helpers/tools.ts";

const BIN = join(import.meta.dirname, "..", "..", "bin", "pullstorm.js");
const containerdTools = checkTools("ctr", "containerd", "docker-registry");
const skopeoTools = checkTools("skopeo", "docker-registry");

let work: string;
let containerd: PrivateContainerd | undefined;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "pullstorm-check-mirror-real-"));
  if (containerdTools.available)
    containerd = await startPrivateContainerd(join(work, "containerd"));
});

afterAll(async () => {
  await containerd?.daemon.stop("SIGTERM");
  if (work) rmSync(work, { recursive: true, force: true });
});

function check(options: Omit<CheckMirrorOptions, "containerd">): Promise<CheckMirrorReport> {
  return checkMirror({
    pullTimeoutMs: 30_000,
    ...options,
    ...(options.runtime === "containerd" && containerd ? { containerd } : {}),
  });
}

function ids(r: CheckMirrorReport): string[] {
  return r.findings.map((f) => f.id);
}

/** Every stand-in and every recorded request was on loopback. */
function expectLoopbackOnly(r: CheckMirrorReport) {
  for (const s of r.standIns) expect(isLoopbackHost(new URL(s.url).host), s.name).toBe(true);
  for (const i of r.images) expect(isLoopbackHost(i.pulledAs.split("/")[0] as string)).toBe(true);
}

describe("containerd nodes (ctr content fetch --hosts-dir, docker-registry as the mirror)", () => {
  it("a good hosts.toml: every request at the mirror (with ?ns=), exit 0; mirror down: silent fallback upstream", async (ctx) => {
    if (!containerdTools.available) return ctx.skip(containerdTools.reason);
    const r = await check({ runtime: "containerd", hostsDir: fixture("certs.d-good") });
    expect(r.driver).toMatchObject({ kind: "real", program: "ctr" });
    expect(r.mirror).toMatchObject({ backend: "process", program: "docker-registry" });
    expect(r.exitCode).toBe(0);
    const i = r.images[0];
    if (!i) throw new Error("no image");
    expect(i.pull).toMatchObject({ ok: true, verdict: "mirror" });
    expect(i.pull.upstream.requests).toBe(0);
    expect(i.pull.mirror.manifestsByTag).toBeGreaterThanOrEqual(1);
    expect(i.pull.mirror.blobs).toBeGreaterThanOrEqual(2);
    // containerd tells a mirror which registry it stands for.
    const standIn = i.pulledAs.split("/")[0];
    const atMirror = r.requests.filter((q) => q.phase === "pull" && q.at === "mirror");
    expect(atMirror.every((q) => q.ns === standIn)).toBe(true);
    // The mirror fetched from its upstream on a cold cache, counted there.
    expect(i.pull.mirrorUpstream.requests).toBeGreaterThan(0);
    // Stopped: containerd tried the dead mirror for each request, then the server, and exited 0.
    expect(i.fallback).toMatchObject({ ok: true, outcome: "fell-back-upstream", silent: true });
    const f = i.fallback as CheckedPull;
    expect(f.upstream.blobs).toBeGreaterThanOrEqual(2);
    expect(f.mirror.failed).toBe(f.mirror.requests);
    expect(f.log.join("\n")).toMatch(/trying next host/);
    expect(ids(r)).toContain("silent-fallback");
    expectLoopbackOnly(r);
  });

  it("daemon.json on containerd nodes: containerd never reads it, everything upstream, exit 1 with the hosts.toml fix", async (ctx) => {
    if (!containerdTools.available) return ctx.skip(containerdTools.reason);
    const r = await check({ runtime: "containerd", daemonJson: fixture("daemon.json") });
    expect(r.exitCode).toBe(1);
    expect(r.config.readByRuntime).toBe(false);
    expect(r.translation.files).toEqual({});
    const i = r.images[0];
    expect(i?.pull.verdict).toBe("upstream");
    expect(i?.pull.mirror.requests).toBe(0);
    expect(i?.pull.upstream.counted).toBeGreaterThanOrEqual(1);
    const f = r.findings.find((x) => x.id === "config-for-other-runtime");
    expect(f?.severity).toBe("critical");
    expect(f?.fix).toContain("/etc/containerd/certs.d/docker.io/hosts.toml");
    expect(f?.fix).toContain('[host."https://mirror.corp:5000"]');
    expect(f?.fix).toContain("config_path");
  });

  it('capabilities ["pull"] only: tags resolved upstream (HEAD), content from the mirror: both, exit 1', async (ctx) => {
    if (!containerdTools.available) return ctx.skip(containerdTools.reason);
    const r = await check({
      runtime: "containerd",
      hostsDir: fixture("certs.d-pull-only"),
      fallback: false,
    });
    expect(r.exitCode).toBe(1);
    const i = r.images[0];
    expect(i?.pull.verdict).toBe("both");
    const tagAtUpstream = r.requests.filter(
      (q) => q.phase === "pull" && q.at === "upstream" && q.kind === "manifest",
    );
    expect(tagAtUpstream.length).toBeGreaterThanOrEqual(1);
    expect(tagAtUpstream.every((q) => q.reference === "tag" && q.method === "HEAD")).toBe(true);
    expect(i?.pull.mirror.manifestsByTag).toBe(0);
    expect(i?.pull.mirror.manifestsByDigest).toBeGreaterThanOrEqual(1);
    expect(i?.pull.mirror.blobs).toBeGreaterThanOrEqual(2);
    expect(i?.fallback).toEqual({ skipped: "--no-fallback" });
    expect(ids(r)).toContain("tags-resolved-upstream");
  });

  it("pinned by digest, the same pull-only mirror serves everything: exit 0", async (ctx) => {
    if (!containerdTools.available) return ctx.skip(containerdTools.reason);
    const r = await check({
      runtime: "containerd",
      hostsDir: fixture("certs.d-pull-only"),
      images: [`nginx@sha256:${"0".repeat(64)}`],
      fallback: false,
    });
    expect(r.images[0]?.pull.verdict).toBe("mirror");
    expect(r.exitCode).toBe(0);
    expect(r.translation.notes.join("\n")).toMatch(/fake registry's digest/);
  });

  it("hosts.toml in the wrong directory (registry-1.docker.io/): mirror never reached, fix renames it", async (ctx) => {
    if (!containerdTools.available) return ctx.skip(containerdTools.reason);
    const r = await check({ runtime: "containerd", hostsDir: fixture("certs.d-wrong-dir") });
    expect(r.exitCode).toBe(1);
    expect(r.images[0]?.pull.verdict).toBe("upstream");
    expect(r.images[0]?.fallback).toMatchObject({
      skipped: expect.stringMatching(/no mirror served/),
    });
    const f = r.findings.find((x) => x.id === "mirror-never-reached");
    expect(f?.fix).toMatch(/^mv .*registry-1\.docker\.io .*\/docker\.io$/);
  });

  it("server-only hosts.toml: containerd 1.6 logs 'failed to decode hosts.toml' and pulls from the registry", async (ctx) => {
    if (!containerdTools.available) return ctx.skip(containerdTools.reason);
    const r = await check({ runtime: "containerd", hostsDir: fixture("certs.d-server-only") });
    expect(r.exitCode).toBe(1);
    expect(r.images[0]?.pull.verdict).toBe("upstream");
    expect(r.images[0]?.pull.log.join("\n")).toMatch(
      /failed to decode hosts\.toml: invalid `host` tree/,
    );
    const f = r.findings.find((x) => x.id === "hosts-toml-ignored");
    expect(f?.detail).toMatch(/Seen here/);
    expect(f?.fix).toContain('[host."https://mirror.corp:5000"]');
  });

  it("a mirror host typo (--mirror names the real one): requests to it fail, containerd falls through upstream", async (ctx) => {
    if (!containerdTools.available) return ctx.skip(containerdTools.reason);
    const r = await check({
      runtime: "containerd",
      hostsDir: fixture("certs.d-typo"),
      mirrors: ["mirror.corp:5000"],
    });
    expect(r.exitCode).toBe(1);
    const i = r.images[0];
    expect(i?.pull).toMatchObject({ ok: true, verdict: "upstream" });
    expect(i?.pull.mirror.requests).toBeGreaterThan(0);
    expect(i?.pull.mirror.failed).toBe(i?.pull.mirror.requests);
    expect(r.standIns.find((s) => s.name === "mirorr.corp:5000")?.state).toBe("unknown-host");
    expect(r.findings.find((f) => f.id === "unknown-mirror-host")?.fix).toContain(
      "mirror.corp:5000",
    );
  });

  it("the mirror as server too: with the mirror down, pulls fail (fails closed), exit 0", async (ctx) => {
    if (!containerdTools.available) return ctx.skip(containerdTools.reason);
    const r = await check({ runtime: "containerd", hostsDir: fixture("certs.d-fail-closed") });
    expect(r.exitCode).toBe(0);
    expect(r.images[0]?.pull.verdict).toBe("mirror");
    expect(r.images[0]?.fallback).toMatchObject({ ok: false, outcome: "failed" });
    expect((r.images[0]?.fallback as CheckedPull | undefined)?.upstream.requests).toBe(0);
    expect(ids(r)).toContain("fails-closed");
    expect(ids(r)).not.toContain("silent-fallback");
  });

  it("a mirror that serves digests only: tags answered 404 there, resolved upstream: exit 1", async (ctx) => {
    if (!containerdTools.available) return ctx.skip(containerdTools.reason);
    const r = await check({
      runtime: "containerd",
      hostsDir: fixture("certs.d-good"),
      mirrorServes: "digests",
      fallback: false,
    });
    expect(r.images[0]?.pull.verdict).toBe("both");
    expect(
      r.requests.some((q) => q.at === "mirror" && q.reference === "tag" && q.status === 404),
    ).toBe(true);
    expect(ids(r)).toContain("mirror-digest-only");
  });

  it("_default applies to every registry; config_path missing in config.toml means the CRI plugin reads nothing", async (ctx) => {
    if (!containerdTools.available) return ctx.skip(containerdTools.reason);
    const images = ["quay.io/org/app:2", "nginx:1.25"];
    const ok = await check({
      runtime: "containerd",
      hostsDir: fixture("certs.d-default"),
      images,
      fallback: false,
    });
    expect(ok.images.map((i) => i.pull.verdict)).toEqual(["mirror", "mirror"]);
    expect(Object.keys(ok.translation.files)).toEqual(["_default/hosts.toml"]);
    expectCriReadsNothing(await check(CRI_WITHOUT_CONFIG_PATH));
  });

  it("the containerd model agrees with the real containerd on every fixture", async (ctx) => {
    if (!containerdTools.available) return ctx.skip(containerdTools.reason);
    for (const dir of [
      "certs.d-good",
      "certs.d-pull-only",
      "certs.d-wrong-dir",
      "certs.d-no-server",
      "certs.d-server-only",
      "certs.d-fail-closed",
    ])
      await expectModelAgrees({ runtime: "containerd", hostsDir: fixture(dir) }, dir);
  });
});

/** The project's pull client with the runtime's model sees what the real program saw: same verdicts, same requests by tag, same blob counts. */
async function expectModelAgrees(options: Omit<CheckMirrorOptions, "containerd">, what: string) {
  const real = await check(options);
  const model = await check({ ...options, driver: "model" });
  expect(real.driver.kind).toBe("real");
  expect(model.driver.kind).toBe("model");
  const shape = (r: CheckMirrorReport) =>
    r.images.map((i) => ({
      pull: i.pull.verdict,
      fallback: "skipped" in i.fallback ? "skipped" : i.fallback.outcome,
      mirrorByTag: i.pull.mirror.manifestsByTag > 0,
      upstreamByTag: i.pull.upstream.manifestsByTag > 0,
      mirrorBlobs: i.pull.mirror.blobs,
      upstreamBlobs: i.pull.upstream.blobs,
    }));
  expect(shape(model), what).toEqual(shape(real));
}

describe("CRI-O nodes (skopeo with the registries.conf, docker-registry as the mirror)", () => {
  it("a good registries.conf: through the mirror, exit 0; mirror down: containers/image falls back silently", async (ctx) => {
    if (!skopeoTools.available) return ctx.skip(skopeoTools.reason);
    const r = await check({ runtime: "cri-o", registriesConf: fixture("registries.conf") });
    expect(r.driver).toMatchObject({ kind: "real", program: "skopeo" });
    expect(r.exitCode).toBe(0);
    const i = r.images[0];
    expect(i?.pull.verdict).toBe("mirror");
    expect(i?.pull.mirror.manifestsByTag).toBe(1);
    expect(i?.fallback).toMatchObject({ ok: true, outcome: "fell-back-upstream", silent: true });
    expect(ids(r)).toContain("silent-fallback");
    expectLoopbackOnly(r);
  });

  it("pull-from-mirror = digest-only: a tag goes to the registry (exit 1), a digest to the mirror", async (ctx) => {
    if (!skopeoTools.available) return ctx.skip(skopeoTools.reason);
    const r = await check({
      runtime: "cri-o",
      registriesConf: fixture("registries-digest-only.conf"),
      images: ["nginx:1.25", `redis@sha256:${"1".repeat(64)}`],
      fallback: false,
    });
    expect(r.images.map((i) => i.pull.verdict)).toEqual(["upstream", "mirror"]);
    expect(r.exitCode).toBe(1);
    expect(r.findings.find((f) => f.id === "tags-resolved-upstream")?.images).toEqual([
      "docker.io/library/nginx:1.25",
    ]);
  });

  it("a prefix naming the endpoint (registry-1.docker.io) never matches: never reached, exit 1", async (ctx) => {
    if (!skopeoTools.available) return ctx.skip(skopeoTools.reason);
    const r = await check({
      runtime: "cri-o",
      registriesConf: fixture("registries-wrong-prefix.conf"),
    });
    expect(r.exitCode).toBe(1);
    expect(r.images[0]?.pull.verdict).toBe("upstream");
    expect(r.findings.find((f) => f.id === "mirror-never-reached")?.detail).toMatch(
      /no prefix matches \(prefixes: "registry-1\.docker\.io"\)/,
    );
  });

  it("a hosts.toml on CRI-O nodes: not read, exit 1, the fix is a registries.conf", async (ctx) => {
    if (!skopeoTools.available) return ctx.skip(skopeoTools.reason);
    const r = await check({ runtime: "cri-o", hostsDir: fixture("certs.d-good") });
    expect(r.exitCode).toBe(1);
    expect(r.images[0]?.pull.verdict).toBe("upstream");
    expect(r.findings.find((f) => f.id === "config-for-other-runtime")?.fix).toContain(
      'location = "mirror.corp:5000"',
    );
  });
  it("the containers/image model agrees with the real skopeo on every registries.conf", async (ctx) => {
    if (!skopeoTools.available) return ctx.skip(skopeoTools.reason);
    const images = ["nginx:1.25", `redis@sha256:${"1".repeat(64)}`];
    for (const file of [
      "registries.conf",
      "registries-digest-only.conf",
      "registries-wrong-prefix.conf",
    ])
      await expectModelAgrees({ runtime: "cri-o", registriesConf: fixture(file), images }, file);
  });
});

describe("the CLI end to end", () => {
  it("prints JSON, writes the three report files and exits with the verdict", async (ctx) => {
    if (!containerdTools.available) return ctx.skip(containerdTools.reason);
    const out = join(work, "cli-out");
    const r = await runCommand(
      process.execPath,
      [
        BIN,
        "check-mirror",
        "--runtime",
        "containerd",
        "--daemon-json",
        fixture("daemon.json"),
        "--json",
        "--out",
        out,
      ],
      { timeoutMs: 90_000 },
    );
    expect(r.status, r.stderr).toBe(1);
    const report = JSON.parse(r.stdout) as CheckMirrorReport;
    expect(report.schema).toBe("pullstorm.check-mirror/v1");
    expect(report.exitCode).toBe(1);
    expect(JSON.parse(readFileSync(join(out, "check-mirror.json"), "utf8")).verdict).toBe(
      "upstream",
    );
    expect(readFileSync(join(out, "check-mirror.md"), "utf8")).toContain(
      "containerd never reads daemon.json",
    );
    const { cases } = readCheckJunit(readFileSync(join(out, "check-mirror.junit.xml"), "utf8"));
    expect(cases.map((c) => c["@_name"])).toContain(
      "docker.io/library/nginx:1.25 is pulled through a mirror",
    );
  });
});
