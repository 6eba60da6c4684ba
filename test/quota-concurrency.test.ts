// Exactness under concurrency, over real HTTP: 50 source addresses (127.0.0.x)
// fire 150 concurrent manifest GETs each; every address gets exactly its limit,
// never one more, and an account is counted apart from the addresses it uses.
import { Agent } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningRegistry } from "../fake-registry/index.ts";
import { httpRequest } from "./helpers/http.ts";
import { pullToken, startRegistry } from "./helpers/registry.ts";

const IPS = Array.from({ length: 50 }, (_, i) => `127.0.0.${i + 2}`);
const PER_IP = 150;

describe("quota exactness under concurrency", () => {
  let running: RunningRegistry;
  beforeAll(async () => {
    running = await startRegistry({ accounts: [{ name: "ci", password: "pw", plan: "free" }] });
  });
  afterAll(() => running?.close());

  it("admits exactly 100 per IP out of 150 concurrent GETs from each of 50 IPs", async () => {
    const token = await pullToken(running.url, "library/redis");
    const statuses = new Map<string, number[]>();
    // Ten addresses at a time: 1,500 requests in flight, each bounded by a 10 s timeout.
    for (let batch = 0; batch < IPS.length; batch += 10) {
      await Promise.all(
        IPS.slice(batch, batch + 10).map(async (ip) => {
          const agent = new Agent({
            keepAlive: true,
            maxSockets: 50,
            localAddress: ip,
          } as ConstructorParameters<typeof Agent>[0]);
          try {
            const results = await Promise.all(
              Array.from({ length: PER_IP }, () =>
                httpRequest(`${running.url}/v2/library/redis/manifests/7`, {
                  headers: { authorization: `Bearer ${token}` },
                  agent,
                }).then((r) => r.status),
              ),
            );
            statuses.set(ip, results);
          } finally {
            agent.destroy();
          }
        }),
      );
    }
    for (const ip of IPS) {
      const s = statuses.get(ip) ?? [];
      expect(s.filter((x) => x === 200).length, ip).toBe(100);
      expect(s.filter((x) => x === 429).length, ip).toBe(50);
    }
    const stats = running.registry.stats.snapshot();
    expect(
      Object.keys(stats.byIdentity).filter((k) => k.startsWith("127.0.0.")).length,
    ).toBeGreaterThanOrEqual(50);
    expect(stats.byIdentity["127.0.0.2"]?.byKind.manifest?.GET).toEqual({ "200": 100, "429": 50 });
  });

  it("counts an account apart from the IPs it pulls from", async () => {
    const token = await pullToken(running.url, "library/redis", { user: "ci", password: "pw" });
    // 127.0.0.2 has spent its anonymous quota above; the account still has its 200.
    const results = await Promise.all(
      Array.from({ length: 250 }, (_, i) =>
        httpRequest(`${running.url}/v2/library/redis/manifests/7`, {
          headers: { authorization: `Bearer ${token}` },
          localAddress: IPS[i % 5] as string,
        }).then((r) => r.status),
      ),
    );
    expect(results.filter((s) => s === 200)).toHaveLength(200);
    expect(results.filter((s) => s === 429)).toHaveLength(50);
    expect(running.registry.stats.snapshot().byIdentity.ci?.byKind.manifest?.GET).toEqual({
      "200": 200,
      "429": 50,
    });
  });
});
