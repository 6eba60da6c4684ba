// Hostile input (issue 14): built-in object keys, transport-level errors, bodies where
// none belong, 405s and auth schemes, and the endpoints real clients expect
// (referrers, _catalog, empty Basic credentials).
import { Writable } from "node:stream";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRegistry, type RunningRegistry, serveRegistry } from "../fake-registry/index.ts";
import { parsePolicyDocument } from "../fake-registry/policy/file.ts";
import { preset } from "../fake-registry/policy/presets.ts";
import { ConfigError } from "../vocabulary/config/yaml-file.ts";
import { httpRequest, rawRequest } from "./helpers/http.ts";
import { inProcessRegistry } from "./helpers/inprocess.ts";

const OBJECT_KEYS = ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf"];
const DIGEST = `sha256:${"a".repeat(64)}`;

function body(res: { text: string }) {
  return JSON.parse(res.text);
}

describe("built-in object keys are nobody's", () => {
  it("answers tags __proto__, constructor, toString with 404 MANIFEST_UNKNOWN on every repository", async () => {
    const { registry, call, token } = inProcessRegistry();
    for (const name of registry.catalog.names()) {
      const t = await token(name);
      for (const tag of OBJECT_KEYS) {
        const res = await call("GET", `/v2/${name}/manifests/${tag}`, { token: t });
        expect(res.status, `${name}:${tag}`).toBe(404);
        expect(body(res).errors[0].code).toBe("MANIFEST_UNKNOWN");
        expect((await call("HEAD", `/v2/${name}/manifests/${tag}`, { token: t })).status).toBe(404);
      }
    }
  });

  it("limits a plan named constructor as its policy says, refuses it where no policy names it, and refuses __proto__ as a plan at start-up", async () => {
    const { call, token } = inProcessRegistry({
      accounts: [{ name: "cy", password: "pw", plan: "constructor" }],
      policy: { limits: { pulls: { constructor: { limit: 3, window: "1h" } } } },
    });
    const t = await token("library/nginx", { basic: "cy:pw" });
    const res = await call("GET", "/v2/library/nginx/manifests/latest", { token: t });
    expect(res.status).toBe(200);
    // The policy's own "constructor" limit, not Object.prototype.constructor.
    expect(res.headers["ratelimit-limit"]).toBe("3;w=3600");
    // No policy names it: an unknown plan (it would be unlimited), not a prototype method.
    expect(() =>
      createRegistry({ accounts: [{ name: "x", password: "pw", plan: "constructor" }] }),
    ).toThrow(/unknown plan "constructor"/);
    expect(() =>
      createRegistry({ accounts: [{ name: "x", password: "pw", plan: "__proto__" }] }),
    ).toThrow(ConfigError);
    expect(() =>
      createRegistry({ accounts: [{ name: "x", password: "pw", plan: "anonymous" }] }),
    ).toThrow(/accounts\[0\] \(x\): plan "anonymous" is reserved/);
    const registry = createRegistry();
    expect(() => registry.addAccount({ name: "y", password: "pw", plan: "Pro Plan" })).toThrow(
      /addAccount\[0\] \(y\): plan "Pro Plan" must be lower-case/,
    );
  });

  it("refuses plan and preset names that are object keys in policy documents", () => {
    const proto = parsePolicyDocument(
      JSON.parse('{"limits":{"pulls":{"__proto__":{"limit":1,"window":"1h"}}}}'),
      "dockerhub-2020",
    );
    expect("errors" in proto ? proto.errors.join("\n") : "").toMatch(
      /limits\.pulls\.__proto__: __proto__ is not a name/,
    );
    const ctor = parsePolicyDocument({ preset: "constructor" }, "dockerhub-2020");
    expect("errors" in ctor ? ctor.errors.join("\n") : "").toMatch(/preset: unknown preset/);
    const plan = parsePolicyDocument(
      { limits: { pulls: { "Pro Plan": { limit: 1, window: "1h" } } } },
      "dockerhub-2020",
    );
    expect("errors" in plan ? plan.errors.join("\n") : "").toMatch(/plan names are lower-case/);
    expect(preset("toString")).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe("errors at the edges of HTTP", () => {
  let running: RunningRegistry;
  let port: number;
  const logged: string[] = [];
  beforeAll(async () => {
    const registry = createRegistry();
    const sink = new Writable({
      write(chunk, _enc, done) {
        logged.push(chunk.toString());
        done();
      },
    });
    running = await serveRegistry(registry, {
      host: "127.0.0.1",
      port: 0,
      logger: pino({ level: "warn" }, sink),
    });
    port = Number(new URL(running.url).port);
  });
  afterAll(() => running?.close());

  it("logs the cause of a 500 and never sends it", async () => {
    const faults = running.registry.faults;
    running.registry.faults = {
      size: 1,
      evaluate() {
        throw new Error("secret internals: /srv/keys");
      },
    };
    try {
      const res = await httpRequest(`${running.url}/v2/`);
      expect(res.status).toBe(500);
      expect(res.body.toString()).toBe(
        '{"errors":[{"code":"UNKNOWN","message":"internal error"}]}',
      );
      const line = logged.map((l) => JSON.parse(l)).find((l) => l.msg === "request failed");
      expect(line?.err?.message).toBe("secret internals: /srv/keys");
      expect(line?.err?.stack).toMatch(/registry-hardening\.test\.ts/);
    } finally {
      running.registry.faults = faults;
    }
  });

  it("answers a Host-less HTTP/1.1 request with an OCI error body, not Node's bare 400", async () => {
    const answer = await rawRequest("127.0.0.1", port, "GET /v2/ HTTP/1.1\r\n\r\n");
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).toMatch(
      /"code":"UNSUPPORTED","message":"an HTTP\/1\.1 request needs a Host header"/,
    );
  });

  it("keeps the port in the fallback realm", async () => {
    // HTTP/1.0 may leave Host out: the realm names the address and port the request reached.
    const answer = await rawRequest("127.0.0.1", port, "GET /v2/ HTTP/1.0\r\n\r\n");
    expect(answer).toContain(`Bearer realm="http://127.0.0.1:${port}/token"`);
    const odd = await rawRequest(
      "127.0.0.1",
      port,
      "GET /v2/ HTTP/1.1\r\nHost: not a host\r\nConnection: close\r\n\r\n",
    );
    expect(odd).toContain(`Bearer realm="http://127.0.0.1:${port}/token"`);
  });

  it("does not read a 1 GB body on a GET: answers and closes", async () => {
    const { connect } = await import("node:net");
    const result = await new Promise<{ sent: number; answer: string; ms: number }>((resolve) => {
      const t0 = performance.now();
      const socket = connect({ host: "127.0.0.1", port });
      let sent = 0;
      let answer = "";
      const chunk = Buffer.alloc(64 * 1024);
      const GB = 1024 * 1024 * 1024;
      const pump = () => {
        while (sent < GB && socket.writable && socket.write(chunk)) sent += chunk.length;
        if (sent < GB && socket.writable) socket.once("drain", pump);
      };
      const stop = setTimeout(() => socket.destroy(), 20_000);
      socket.on("data", (d: Buffer) => {
        answer += d.toString("latin1");
      });
      socket.on("error", () => {});
      socket.on("close", () => {
        clearTimeout(stop);
        resolve({ sent, answer, ms: performance.now() - t0 });
      });
      socket.write(
        `GET /v2/library/nginx/manifests/latest HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Length: ${GB}\r\n\r\n`,
      );
      pump();
    });
    expect(result.answer).toMatch(/^HTTP\/1\.1 401 /);
    expect(result.answer).toMatch(/connection: close/i);
    // The server closed the connection long before the gigabyte: at most a few MB got through.
    expect(result.sent).toBeLessThan(256 * 1024 * 1024);
  });

  it("names the allowed methods on every 405", async () => {
    const cases: [string, string, string][] = [
      ["PUT", "/v2/library/nginx/manifests/latest", "GET, HEAD"],
      ["DELETE", `/v2/library/nginx/blobs/${DIGEST}`, "GET, HEAD"],
      ["HEAD", "/v2/library/nginx/tags/list", "GET"],
      ["POST", "/v2/_catalog", "GET"],
      ["DELETE", "/token", "GET, POST"],
      ["POST", "/v2/library/nginx/blobs/uploads/", ""],
      ["PROPFIND", "/v2/", "GET, HEAD, POST"],
    ];
    for (const [method, path, allow] of cases) {
      const res = await httpRequest(`${running.url}${path}`, { method });
      expect(res.status, `${method} ${path}`).toBe(405);
      expect(res.headers.allow, `${method} ${path}`).toBe(allow);
    }
    const connect = await rawRequest(
      "127.0.0.1",
      port,
      `CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n`,
    );
    expect(connect).toMatch(/^HTTP\/1\.1 405 [\s\S]*allow: GET, HEAD, POST/);
  });
});

describe("auth schemes and empty credentials", () => {
  it("takes bearer in any case, and Basic Og== (no user, no password) as anonymous", async () => {
    const { call, token } = inProcessRegistry();
    const t = await token("library/nginx");
    for (const scheme of ["Bearer", "bearer", "BEARER"]) {
      const res = await call("GET", "/v2/library/nginx/manifests/latest", {
        headers: { authorization: `${scheme} ${t}` },
      });
      expect(res.status, scheme).toBe(200);
    }
    const empty = await call(
      "GET",
      "/token?service=registry.pullstorm.test&scope=repository:library/nginx:pull",
      { headers: { authorization: "Basic Og==" } },
    );
    expect(empty.status).toBe(200);
    const claims = JSON.parse(Buffer.from(body(empty).token.split(".")[1], "base64url").toString());
    expect(claims.sub).toBe("");
    expect(claims.access).toMatchObject([
      { type: "repository", name: "library/nginx", actions: ["pull"] },
    ]);
    // A user without a password is still a wrong login.
    const half = await call("GET", "/token?service=registry.pullstorm.test", {
      headers: { authorization: `Basic ${Buffer.from("alice:").toString("base64")}` },
    });
    expect(half.status).toBe(401);
  });
});

describe("referrers", () => {
  it("answers an empty OCI image index, and says when it filtered by artifactType", async () => {
    const { call, token } = inProcessRegistry();
    const t = await token("myorg/api");
    const res = await call("GET", `/v2/myorg/api/referrers/${DIGEST}`, { token: t });
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe("application/vnd.oci.image.index.v1+json");
    expect(body(res)).toEqual({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [],
    });
    expect(res.headers["oci-filters-applied"]).toBeUndefined();
    const filtered = await call(
      "GET",
      `/v2/myorg/api/referrers/${DIGEST}?artifactType=application/vnd.example.sbom`,
      { token: t },
    );
    expect(filtered.headers["oci-filters-applied"]).toBe("artifactType");
    expect((await call("GET", `/v2/myorg/api/referrers/${DIGEST}`)).status).toBe(401);
    const unknown = await call("GET", `/v2/nobody/here/referrers/${DIGEST}`, {
      token: await token("nobody/here"),
    });
    expect(unknown.status).toBe(404);
    expect(body(unknown).errors[0].code).toBe("NAME_UNKNOWN");
    const bad = await call("GET", "/v2/myorg/api/referrers/sha256:nothex", { token: t });
    expect(bad.status).toBe(400);
    expect(body(bad).errors[0].code).toBe("DIGEST_INVALID");
  });
});

describe("_catalog", () => {
  const catalogToken = async (
    call: ReturnType<typeof inProcessRegistry>["call"],
    basic?: string,
  ) => {
    const res = await call(
      "GET",
      "/token?service=registry.pullstorm.test&scope=registry:catalog:*",
      {
        ...(basic ? { basic } : {}),
      },
    );
    expect(res.status).toBe(200);
    return body(res).token as string;
  };

  it("pages with n and last and a Link header, and needs the registry:catalog:* scope", async () => {
    const { registry, call } = inProcessRegistry();
    const challenge = await call("GET", "/v2/_catalog");
    expect(challenge.status).toBe(401);
    expect(challenge.headers["www-authenticate"]).toContain('scope="registry:catalog:*"');
    const pullOnly = await call("GET", "/v2/_catalog", {
      token: await (async () => {
        const r = await call(
          "GET",
          "/token?service=registry.pullstorm.test&scope=repository:library/nginx:pull",
        );
        return body(r).token;
      })(),
    });
    expect(pullOnly.status).toBe(401);
    expect(pullOnly.headers["www-authenticate"]).toContain('error="insufficient_scope"');

    const t = await catalogToken(call);
    const all = await call("GET", "/v2/_catalog", { token: t });
    expect(all.status).toBe(200);
    expect(all.headers.link).toBeUndefined();
    expect(body(all).repositories).toEqual([...registry.catalog.names()]);
    const seen: string[] = [];
    let next: string | undefined = "/v2/_catalog?n=3";
    for (let page = 0; next && page < 10; page++) {
      const res = await call("GET", next, { token: t });
      expect(res.status).toBe(200);
      const names = body(res).repositories as string[];
      expect(names.length).toBeLessThanOrEqual(3);
      seen.push(...names);
      next = /^<([^>]+)>; rel="next"$/.exec(res.headers.link ?? "")?.[1];
    }
    expect(seen).toEqual(body(all).repositories);
    const after = await call("GET", `/v2/_catalog?last=${encodeURIComponent("library/redis")}`, {
      token: t,
    });
    expect(body(after).repositories).toEqual(
      body(all).repositories.filter((n: string) => n > "library/redis"),
    );
    expect((await call("GET", "/v2/_catalog?n=-1", { token: t })).status).toBe(400);
  });

  it("is not a pull: free under every preset, counted only by a rule that names it", async () => {
    const everything = {
      rules: [
        {
          name: "requests",
          counts: [{ kind: "*" }],
          limits: { default: { limit: 2, window: "1h" }, anonymous: { limit: 2, window: "1h" } },
          refusal: { type: "oci", anonymous: "limited", account: "limited" },
        },
      ],
    };
    const free = inProcessRegistry({ policy: everything });
    const t = await catalogToken(free.call);
    const statuses = [];
    for (let i = 0; i < 5; i++)
      statuses.push((await free.call("GET", "/v2/_catalog", { token: t })).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    expect(free.registry.stats.snapshot().pulls).toBe(0);
    const counted = inProcessRegistry({
      policy: { ...everything, rules: [{ ...everything.rules[0], counts: [{ kind: "catalog" }] }] },
    });
    const t2 = await catalogToken(counted.call);
    const limited = [];
    for (let i = 0; i < 3; i++)
      limited.push((await counted.call("GET", "/v2/_catalog", { token: t2 })).status);
    expect(limited).toEqual([200, 200, 429]);
  });

  it("lists a private repository to its users only", async () => {
    const registry = createRegistry({
      accounts: [{ name: "ann", password: "pw", plan: "pro" }],
      images: [
        {
          name: "secret/app",
          tags: { latest: {} },
          platforms: [{ os: "linux", architecture: "amd64" }],
          base: "alpine",
          format: "oci",
          users: ["ann"],
        },
      ],
    });
    const ask = async (authorization?: string) => {
      const tok = await registry.handle(
        {
          method: "GET",
          path: "/token",
          query: new URLSearchParams("service=registry.pullstorm.test&scope=registry:catalog:*"),
          headers: authorization ? { authorization } : {},
        },
        { ip: "127.0.0.1" },
      );
      const token = JSON.parse(String(tok.response.body)).token;
      const res = await registry.handle(
        {
          method: "GET",
          path: "/v2/_catalog",
          query: new URLSearchParams(),
          headers: { authorization: `Bearer ${token}` },
        },
        { ip: "127.0.0.1" },
      );
      return JSON.parse(String(res.response.body)).repositories as string[];
    };
    expect(await ask()).not.toContain("secret/app");
    expect(await ask(`Basic ${Buffer.from("ann:pw").toString("base64")}`)).toContain("secret/app");
  });
});
