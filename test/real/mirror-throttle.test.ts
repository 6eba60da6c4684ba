// Docker Hub does not count manifest HEADs: a pull-through mirror that checks a
// cached tag with HEAD keeps pulling when the IP's quota is gone, while a direct
// client from the same IP is refused. Shown with real CNCF distribution and skopeo.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningRegistry } from "../../fake-registry/index.ts";
import { parsePolicyDocument } from "../../fake-registry/policy/file.ts";
import type { Policy } from "../../fake-registry/policy/types.ts";
import { httpRequest } from "../helpers/http.ts";
import { type Mirror, startDistributionMirror } from "../helpers/mirror.ts";
import { runCommand } from "../helpers/processes.ts";
import { pullToken, startRegistry } from "../helpers/registry.ts";
import { checkTools } from "../helpers/tools.ts";

const tools = checkTools("docker-registry", "skopeo");

describe("HEAD is free through a real distribution mirror", () => {
  let running: RunningRegistry;
  let mirror: Mirror | undefined;
  let work: string;

  beforeAll(async () => {
    // A cold pull of both platforms through the mirror is 3 manifest GETs (index + 2
    // platforms): 2 pulls, the first platform manifest joining the index's pull.
    const policy = parsePolicyDocument(
      { preset: "dockerhub-2020", limits: { pulls: { anonymous: { limit: 2, window: "6h" } } } },
      "dockerhub-2020",
    ) as Policy;
    running = await startRegistry({ policy });
    work = mkdtempSync(join(tmpdir(), "pullstorm-mirror-throttle-"));
  });
  afterAll(async () => {
    await mirror?.stop();
    await running?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it("keeps serving warm pulls by tag after the quota is spent; direct GETs get 429", async (ctx) => {
    if (!tools.available) return ctx.skip(tools.reason);
    mirror = await startDistributionMirror(running.url, join(work, "mirror"));
    const pull = (n: number) =>
      runCommand(
        "skopeo",
        [
          "copy",
          "--all",
          "--src-tls-verify=false",
          `docker://${mirror?.host}/library/nginx:1.25`,
          `dir:${join(work, `copy-${n}`)}`,
        ],
        { timeoutMs: 60_000 },
      );
    const cold = await pull(0);
    expect(cold.stderr).toBe("");
    expect(cold.status).toBe(0);
    for (let i = 1; i <= 5; i++) {
      const warm = await pull(i);
      expect(warm.status, warm.stderr).toBe(0);
    }
    const gets = running.registry.stats.snapshot().byKind.manifest;
    expect(gets?.GET).toEqual({ "200": 3 });
    expect(running.registry.stats.snapshot().pulls).toBe(2);
    expect(gets?.HEAD?.["200"]).toBeGreaterThanOrEqual(5);
    // The quota is spent: a HEAD says so, and a direct GET from the same address is refused.
    const token = await pullToken(running.url, "library/nginx");
    const head = await httpRequest(`${running.url}/v2/library/nginx/manifests/1.25`, {
      method: "HEAD",
      headers: { authorization: `Bearer ${token}` },
    });
    expect(head.status).toBe(200);
    expect(head.headers["ratelimit-remaining"]).toBe("0;w=21600");
    const direct = await httpRequest(`${running.url}/v2/library/nginx/manifests/1.25`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(direct.status).toBe(429);
  });
});
