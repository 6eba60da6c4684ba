// Faults through the live control API and the CLI, end to end over HTTP.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningRegistry } from "../fake-registry/index.ts";
import { httpRequest } from "./helpers/http.ts";
import { runCommand } from "./helpers/processes.ts";
import { pullToken, startRegistry } from "./helpers/registry.ts";

const root = join(import.meta.dirname, "..");

describe("faults via /_pullstorm/faults", () => {
  let running: RunningRegistry;
  beforeAll(async () => {
    running = await startRegistry();
  });
  afterAll(() => running?.close());

  it("adds a scoped outage, lists it, and removes it", async () => {
    const token = await pullToken(running.url, "library/nginx");
    const auth = { authorization: `Bearer ${token}` };
    const added = await httpRequest(`${running.url}/_pullstorm/faults`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        id: "lb",
        type: "outage",
        scope: { repositories: ["library/nginx"] },
      }),
    });
    expect(added.status).toBe(201);
    const down = await httpRequest(`${running.url}/v2/library/nginx/manifests/1.25`, {
      headers: auth,
    });
    expect(down.status).toBe(503);
    expect(down.headers["docker-distribution-api-version"]).toBeUndefined();
    const other = await httpRequest(`${running.url}/v2/library/redis/manifests/7`, {
      headers: { authorization: `Bearer ${await pullToken(running.url, "library/redis")}` },
    });
    expect(other.status).toBe(200);
    const listed = JSON.parse(
      (await httpRequest(`${running.url}/_pullstorm/faults`)).body.toString(),
    );
    expect(listed).toMatchObject([{ id: "lb", type: "outage", active: true, injected: 1 }]);
    const bad = await httpRequest(`${running.url}/_pullstorm/faults`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ type: "latency", probability: 2 }),
    });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body.toString()).errors[0].detail.problems.join("\n")).toMatch(
      /probability/,
    );
    expect(
      (await httpRequest(`${running.url}/_pullstorm/faults/lb`, { method: "DELETE" })).status,
    ).toBe(200);
    expect(
      (await httpRequest(`${running.url}/_pullstorm/faults/lb`, { method: "DELETE" })).status,
    ).toBe(404);
    const up = await httpRequest(`${running.url}/v2/library/nginx/manifests/1.25`, {
      headers: auth,
    });
    expect(up.status).toBe(200);
    const stats = JSON.parse(
      (await httpRequest(`${running.url}/_pullstorm/stats`)).body.toString(),
    );
    expect(stats.byKind.manifest.GET["503"]).toBe(1);
    const metrics = (await httpRequest(`${running.url}/metrics`)).body.toString();
    expect(metrics).toMatch(/pullstorm_refusals_total\{reason="fault",rule="fault"\} 1/);
  });

  it("loads the example faults file and rejects a bad one with exit code 2", async () => {
    const { createRegistry } = await import("../fake-registry/index.ts");
    const registry = createRegistry({
      faultsFile: join(root, "docs/examples/faults-gameday.yaml"),
    });
    const faults = registry.faults as unknown as { list(): Array<{ id: string }> };
    expect(faults.list().map((f) => f.id)).toEqual(["slow-blobs", "flaky-layers", "upstream-down"]);
    const bad = await runCommand(process.execPath, [
      join(root, "bin/pullstorm.js"),
      "registry",
      "serve",
      "--port",
      "0",
      "--faults",
      join(root, "docs/examples/policy-gameday.yaml"),
    ]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("policy-gameday.yaml");
  });
});
