// The control API cannot be driven by a web page or a forged request (issue 14):
// JSON bodies only, the registry's own Origin and Host only, the token from everyone when set.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRegistry, type RunningRegistry, serveRegistry } from "../fake-registry/index.ts";
import { httpRequest } from "./helpers/http.ts";

const FAULT = JSON.stringify({ id: "x", type: "outage" });

async function faultCount(running: RunningRegistry, headers: Record<string, string> = {}) {
  const res = await httpRequest(`${running.url}/_pullstorm/faults`, { headers });
  expect(res.status).toBe(200);
  return (JSON.parse(res.body.toString()) as unknown[]).length;
}

function code(res: { body: Buffer }): string {
  return JSON.parse(res.body.toString()).errors[0].code;
}

describe("control API without a token: loopback callers, JSON bodies, own Origin and Host", () => {
  let running: RunningRegistry;
  let port: string;
  beforeAll(async () => {
    running = await serveRegistry(createRegistry(), {
      host: "127.0.0.1",
      port: 0,
      controlHosts: ["registry"],
    });
    port = new URL(running.url).port;
  });
  afterAll(() => running?.close());

  it("refuses a text/plain or form POST with 415 and does nothing", async () => {
    const plain = await httpRequest(`${running.url}/_pullstorm/faults`, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: FAULT,
    });
    expect(plain.status).toBe(415);
    expect(code(plain)).toBe("UNSUPPORTED");
    // A form POST, what a plain HTML form on any page can send without a preflight.
    await httpRequest(`${running.url}/v2/`);
    const before = JSON.parse(
      (await httpRequest(`${running.url}/_pullstorm/stats`)).body.toString(),
    ).total;
    const form = await httpRequest(`${running.url}/_pullstorm/reset`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "a=1",
    });
    expect(form.status).toBe(415);
    const after = JSON.parse(
      (await httpRequest(`${running.url}/_pullstorm/stats`)).body.toString(),
    ).total;
    expect(after).toBeGreaterThan(before);
    // A body without any Content-Type is refused too.
    const untyped = await httpRequest(`${running.url}/_pullstorm/faults`, {
      method: "POST",
      body: FAULT,
    });
    expect(untyped.status).toBe(415);
    expect(await faultCount(running)).toBe(0);
    // The same body as JSON goes through; a DELETE without a body needs no type.
    const json = await httpRequest(`${running.url}/_pullstorm/faults`, {
      method: "POST",
      headers: { "content-type": "application/json; charset=utf-8" },
      body: FAULT,
    });
    expect(json.status).toBe(201);
    expect(await faultCount(running)).toBe(1);
    const removed = await httpRequest(`${running.url}/_pullstorm/faults/x`, { method: "DELETE" });
    expect(removed.status).toBe(200);
    expect(await faultCount(running)).toBe(0);
  });

  it("refuses a foreign Origin with 403, another port included, and accepts its own", async () => {
    for (const origin of ["http://evil.example", "http://127.0.0.1:8080", "null"]) {
      const res = await httpRequest(`${running.url}/_pullstorm/faults`, {
        method: "POST",
        headers: { "content-type": "application/json", origin },
        body: FAULT,
      });
      expect(res.status, origin).toBe(403);
      expect(code(res)).toBe("DENIED");
      const read = await httpRequest(`${running.url}/_pullstorm/stats`, { headers: { origin } });
      expect(read.status, origin).toBe(403);
    }
    expect(await faultCount(running)).toBe(0);
    const own = await httpRequest(`${running.url}/_pullstorm/policy`, {
      headers: { origin: `http://127.0.0.1:${port}` },
    });
    expect(own.status).toBe(200);
  });

  it("refuses a Host the registry does not serve (DNS rebinding), accepts its own and configured names", async () => {
    const rebound = await httpRequest(`${running.url}/_pullstorm/reset`, {
      method: "POST",
      headers: { host: `attacker.example:${port}` },
    });
    expect(rebound.status).toBe(403);
    expect(JSON.parse(rebound.body.toString()).errors[0].message).toMatch(/--control-host/);
    for (const host of [
      `127.0.0.1:${port}`,
      `localhost:${port}`,
      `registry:${port}`,
      "127.0.0.1",
    ]) {
      const res = await httpRequest(`${running.url}/_pullstorm/policy`, { headers: { host } });
      expect(res.status, host).toBe(200);
    }
    // The registry's own endpoints do not care which name the client used.
    expect(
      (
        await httpRequest(`${running.url}/v2/`, {
          headers: { host: `attacker.example:${port}` },
        })
      ).status,
    ).toBe(401);
  });
});

describe("control API with a token: every caller presents it, loopback included", () => {
  let running: RunningRegistry;
  beforeAll(async () => {
    running = await serveRegistry(createRegistry({ controlToken: "gameday" }), {
      host: "127.0.0.1",
      port: 0,
    });
  });
  afterAll(() => running?.close());

  it("refuses a loopback caller without the token or with a wrong one", async () => {
    const attempts: Record<string, string>[] = [
      {},
      { authorization: "Bearer nope" },
      { authorization: "gameday" },
    ];
    for (const headers of attempts) {
      const res = await httpRequest(`${running.url}/_pullstorm/reset`, {
        method: "POST",
        headers,
        localAddress: "127.0.0.1",
      });
      expect(res.status, JSON.stringify(headers)).toBe(403);
      expect(code(res)).toBe("DENIED");
      expect((await httpRequest(`${running.url}/metrics`, { headers })).status).toBe(403);
    }
  });

  it("answers the token, whatever the case of the scheme", async () => {
    for (const scheme of ["Bearer", "bearer", "BEARER"]) {
      const res = await httpRequest(`${running.url}/_pullstorm/policy`, {
        headers: { authorization: `${scheme} gameday` },
      });
      expect(res.status, scheme).toBe(200);
    }
    // The token does not excuse a foreign Origin.
    const forged = await httpRequest(`${running.url}/_pullstorm/policy`, {
      headers: { authorization: "Bearer gameday", origin: "http://evil.example" },
    });
    expect(forged.status).toBe(403);
  });
});
