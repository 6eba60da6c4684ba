// The pull-through mirror model (simulator/mirror/model.ts) served over HTTP in wall
// time: skopeo can copy an image through it, and what it asks upstream and answers
// clients matches the real docker-registry 2.8 when that is installed.
// (The model in-process, in simulated time: test/mirror-model.test.ts.)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StatsSnapshot } from "../../fake-registry/core/stats.ts";
import { createRegistry, type RunningRegistry, serveRegistry } from "../../fake-registry/index.ts";
import { verifyDirCopy } from "../helpers/digests.ts";
import { startDistributionMirror } from "../helpers/mirror.ts";
import * as mirrorModel from "../helpers/mirror-model.ts";
import { waitFor } from "../helpers/processes.ts";
import { skopeoCopy } from "../helpers/skopeo.ts";
import { checkTools } from "../helpers/tools.ts";

const skopeo = checkTools("skopeo");
const realMirror = checkTools("docker-registry", "skopeo");

let upstream: RunningRegistry;
let work: string;
beforeAll(async () => {
  upstream = await serveRegistry(createRegistry(), { host: "127.0.0.1", port: 0 });
  work = mkdtempSync(join(tmpdir(), "pullstorm-mirror-model-"));
});
afterAll(async () => {
  await upstream?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

/**
 * Copies `image` through the mirror at `host` into work/`dest`, counting upstream from
 * zero, and waits until the upstream has been quiet for 500 ms (at most 15 s): a mirror
 * stores blobs in the background, and on a busy machine (a second `npm test` beside this
 * one) docker-registry's storing GET of a blob came after skopeo had finished (11 blob
 * GETs counted instead of 12).
 */
async function copyThrough(host: string, image: string, dest: string): Promise<string> {
  upstream.registry.stats.reset();
  const result = await skopeoCopy(host, image, join(work, dest));
  expect(result.status, result.stderr).toBe(0);
  let seen = -1;
  let since = performance.now();
  await waitFor(
    () => {
      const total = upstream.registry.stats.snapshot().total;
      if (total !== seen) {
        seen = total;
        since = performance.now();
      }
      return performance.now() - since >= 500;
    },
    15_000,
    () => `the upstream was still answering the mirror after 15 s (${seen} requests)`,
  );
  return join(work, dest);
}

/** Runs `use` with the model mirror in front of `origin`, stopping it afterwards. */
async function withModelMirror<T>(
  origin: string,
  use: (m: mirrorModel.ServedModel) => Promise<T>,
): Promise<T> {
  const mirror = await mirrorModel.serveModelMirror(origin);
  try {
    return await use(mirror);
  } finally {
    await mirror.stop();
  }
}

describe("mirror model served over HTTP (live)", () => {
  it("skopeo copies library/alpine:3.20 through serveMirror; the warm copy costs one manifest HEAD", async (ctx) => {
    if (!skopeo.available) return ctx.skip(skopeo.reason);
    await withModelMirror(upstream.url, async (mirror) => {
      const cold = await copyThrough(mirror.host, "library/alpine:3.20", "cold");
      expect(verifyDirCopy(cold)).toBeGreaterThanOrEqual(8);
      expect(upstream.registry.stats.count("manifest", "GET", 200)).toBe(3);

      const warm = await copyThrough(mirror.host, "library/alpine:3.20", "warm");
      expect(verifyDirCopy(warm)).toBeGreaterThanOrEqual(8);
      expect(upstream.registry.stats.count("manifest", "GET")).toBe(0);
      expect(upstream.registry.stats.count("manifest", "HEAD", 200)).toBe(1);
      expect(upstream.registry.stats.count("blob", "GET")).toBe(0);
    });
  });
});

describe("mirror model against the real docker-registry 2.8", () => {
  it("asks upstream for the same things, by kind, method and status, for a cold and a warm skopeo copy", async (ctx) => {
    if (!realMirror.available) return ctx.skip(realMirror.reason);
    const coldAndWarm = async (host: string, name: string) => {
      const counts: StatsSnapshot["byKind"][] = [];
      for (const phase of ["cold", "warm"]) {
        await copyThrough(host, "library/nginx:1.25", `${name}-${phase}`);
        counts.push(upstream.registry.stats.snapshot().byKind);
      }
      return counts;
    };

    const real = await startDistributionMirror(upstream.url, join(work, "real"));
    let realCounts: StatsSnapshot["byKind"][];
    try {
      realCounts = await coldAndWarm(real.host, "real");
    } finally {
      await real.stop();
    }
    const modelCounts = await withModelMirror(upstream.url, (m) => coldAndWarm(m.host, "model"));
    expect(modelCounts[0]).toEqual(realCounts[0]);
    expect(modelCounts[1]).toEqual(realCounts[1]);
  });

  it("answers clients as the real one does under a spent quota and in an outage", async (ctx) => {
    if (!realMirror.available) return ctx.skip(realMirror.reason);
    const steps: { method?: "GET" | "HEAD"; path: string; outage?: true }[] = [
      { path: "/v2/library/nginx/manifests/1.25" },
      { path: "/v2/library/redis/manifests/7" }, // the quota (2 manifest GETs) is spent
      { path: "/v2/library/alpine/manifests/3.20" }, // cold: refused upstream
      { path: "/v2/library/nginx/manifests/1.25" }, // warm: the HEAD is free
      { method: "HEAD", path: `/v2/library/nginx/blobs/sha256:${"0".repeat(64)}` },
      { path: "/v2/library/nginx/manifests/1.25", outage: true },
      { path: "/v2/library/alpine/manifests/3.20" }, // tag known, manifest never fetched
      { path: "/v2/library/busybox/manifests/latest" },
      { path: "/v2/library/nginx/tags/list" },
      { path: `/v2/library/busybox/blobs/sha256:${"1".repeat(64)}` },
    ];
    const run = async (kind: "real" | "model") => {
      const origin = await serveRegistry(createRegistry({ policy: mirrorModel.quota(2) }));
      const mirror = await (kind === "real"
        ? startDistributionMirror(origin.url, join(work, "real-errors"))
        : mirrorModel.serveModelMirror(origin.url)
      ).catch(async (error) => {
        await origin.close();
        throw error;
      });
      try {
        origin.registry.stats.reset();
        const answers: string[] = [];
        for (const step of steps) {
          if (step.outage) mirrorModel.faults(origin.registry).add({ type: "outage" });
          const res = await fetch(`http://${mirror.host}${step.path}`, {
            method: step.method ?? "GET",
            headers: { accept: mirrorModel.INDEX_ACCEPT },
            signal: AbortSignal.timeout(10_000),
          });
          const text = await res.text();
          let what = "";
          try {
            const body = JSON.parse(text);
            what = body.errors
              ? [body.errors[0].code, body.errors[0].detail?.errors?.[0]?.code].join(" ")
              : (body.tags?.join(",") ?? body.mediaType ?? "");
          } catch {
            what = text.length > 0 ? "non-json" : "";
          }
          answers.push(`${step.method ?? "GET"} ${step.path} -> ${res.status} ${what}`.trim());
        }
        return { answers, upstream: origin.registry.stats.snapshot().byKind };
      } finally {
        await mirror.stop();
        await origin.close();
      }
    };
    const real = await run("real");
    const model = await run("model");
    expect(model.answers).toEqual(real.answers);
    expect(model.upstream).toEqual(real.upstream);
  });
});
