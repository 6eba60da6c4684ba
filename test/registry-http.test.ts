import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningRegistry } from "../fake-registry/index.ts";
import { httpRequest } from "./helpers/http.ts";
import { ALICE, pullToken, startRegistry } from "./helpers/registry.ts";

const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

describe("OCI pull endpoints over HTTP", () => {
  let running: RunningRegistry;
  let token: string;
  const get = (path: string, headers: Record<string, string> = {}, method = "GET") =>
    httpRequest(`${running.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...headers },
    });

  beforeAll(async () => {
    running = await startRegistry({ accounts: [ALICE] });
    token = await pullToken(running.url, "library/nginx");
  });
  afterAll(() => running?.close());

  it("answers the version check", async () => {
    const res = await get("/v2/");
    expect(res.status).toBe(200);
    expect(res.headers["docker-distribution-api-version"]).toBe("registry/2.0");
    expect(JSON.parse(res.body.toString())).toEqual({});
  });

  it("serves a manifest list by tag with type, length and a digest that matches the body", async () => {
    const res = await get("/v2/library/nginx/manifests/1.25", {
      accept: `${DOCKER_MANIFEST}, ${DOCKER_LIST}`,
    });
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe(DOCKER_LIST);
    expect(Number(res.headers["content-length"])).toBe(res.body.length);
    expect(res.headers["docker-content-digest"]).toBe(sha(res.body));
    const head = await get("/v2/library/nginx/manifests/1.25", { accept: DOCKER_LIST }, "HEAD");
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(head.headers["content-length"]).toBe(res.headers["content-length"]);
    expect(head.headers["docker-content-digest"]).toBe(res.headers["docker-content-digest"]);
  });

  it("negotiates between OCI and Docker media types", async () => {
    const oci = await get("/v2/library/nginx/manifests/1.25", {
      accept: `${OCI_INDEX}, ${OCI_MANIFEST}`,
    });
    expect(oci.headers["content-type"]).toBe(OCI_INDEX);
    expect(oci.headers["docker-content-digest"]).toBe(sha(oci.body));
    const single = await get("/v2/library/nginx/manifests/1.25", { accept: DOCKER_MANIFEST });
    expect(single.headers["content-type"]).toBe(DOCKER_MANIFEST);
    const list = JSON.parse(
      (await get("/v2/library/nginx/manifests/1.25", { accept: DOCKER_LIST })).body.toString(),
    );
    const amd64 = list.manifests.find(
      (m: { platform: { architecture: string } }) => m.platform.architecture === "amd64",
    );
    expect(single.headers["docker-content-digest"]).toBe(amd64.digest);
    const refused = await get("/v2/library/nginx/manifests/1.25", {
      accept: "application/vnd.docker.distribution.manifest.v1+json",
    });
    expect(refused.status).toBe(404);
    expect(JSON.parse(refused.body.toString()).errors[0].code).toBe("MANIFEST_UNKNOWN");
    const byDigest = await get(`/v2/library/nginx/manifests/${amd64.digest}`);
    expect(byDigest.status).toBe(200);
    expect(sha(byDigest.body)).toBe(amd64.digest);
  });

  it("serves blobs with verifying digests, HEAD lengths and byte ranges", async () => {
    const list = JSON.parse(
      (await get("/v2/library/nginx/manifests/1.25", { accept: DOCKER_LIST })).body.toString(),
    );
    const manifest = JSON.parse(
      (await get(`/v2/library/nginx/manifests/${list.manifests[0].digest}`)).body.toString(),
    );
    for (const layer of [manifest.config, ...manifest.layers]) {
      const blob = await get(`/v2/library/nginx/blobs/${layer.digest}`);
      expect(blob.status).toBe(200);
      expect(sha(blob.body)).toBe(layer.digest);
      expect(blob.body.length).toBe(layer.size);
      const head = await get(`/v2/library/nginx/blobs/${layer.digest}`, {}, "HEAD");
      expect(head.headers["content-length"]).toBe(String(layer.size));
      expect(head.headers["docker-content-digest"]).toBe(layer.digest);
    }
    const layer = manifest.layers[0];
    const part = await get(`/v2/library/nginx/blobs/${layer.digest}`, { range: "bytes=10-19" });
    expect(part.status).toBe(206);
    expect(part.body.length).toBe(10);
    expect(part.headers["content-range"]).toBe(`bytes 10-19/${layer.size}`);
    const bad = await get(`/v2/library/nginx/blobs/${layer.digest}`, {
      range: `bytes=${layer.size + 5}-`,
    });
    expect(bad.status).toBe(416);
  });

  it("lists tags with pagination", async () => {
    const all = JSON.parse((await get("/v2/library/nginx/tags/list")).body.toString());
    expect(all).toEqual({ name: "library/nginx", tags: ["1.25", "latest"] });
    const page = await get("/v2/library/nginx/tags/list?n=1");
    expect(JSON.parse(page.body.toString()).tags).toEqual(["1.25"]);
    expect(page.headers.link).toBe('</v2/library/nginx/tags/list?n=1&last=1.25>; rel="next"');
    const next = await get("/v2/library/nginx/tags/list?n=1&last=1.25");
    expect(JSON.parse(next.body.toString()).tags).toEqual(["latest"]);
  });
});

describe("token service", () => {
  let running: RunningRegistry;
  beforeAll(async () => {
    running = await startRegistry({ accounts: [ALICE], tokenLifetime: 300 });
  });
  afterAll(() => running?.close());

  it("challenges an unauthenticated request with realm, service and scope", async () => {
    const res = await httpRequest(`${running.url}/v2/library/redis/manifests/7`);
    expect(res.status).toBe(401);
    expect(res.headers["www-authenticate"]).toBe(
      `Bearer realm="${running.url}/token",service="registry.pullstorm.test",scope="repository:library/redis:pull"`,
    );
    expect(JSON.parse(res.body.toString()).errors[0].code).toBe("UNAUTHORIZED");
  });

  it("issues anonymous tokens with Docker Hub's fields, and account tokens with Basic auth", async () => {
    const res = await httpRequest(
      `${running.url}/token?service=registry.pullstorm.test&scope=repository:library/redis:pull`,
    );
    const body = JSON.parse(res.body.toString());
    expect(Object.keys(body).sort()).toEqual(["access_token", "expires_in", "issued_at", "token"]);
    expect(body.expires_in).toBe(300);
    const claims = JSON.parse(Buffer.from(body.token.split(".")[1], "base64url").toString());
    expect(claims.sub).toBe("");
    expect(claims.aud).toBe("registry.pullstorm.test");
    // Docker Hub's anonymous token carries the requester's pull limit (dockerhub-2020 preset)
    expect(claims.access).toEqual([
      {
        type: "repository",
        name: "library/redis",
        actions: ["pull"],
        parameters: { pull_limit: "100", pull_limit_interval: "21600" },
      },
    ]);
    const alice = await pullToken(running.url, "library/redis", {
      user: "alice",
      password: "s3cret",
    });
    expect(JSON.parse(Buffer.from(alice.split(".")[1] as string, "base64url").toString()).sub).toBe(
      "alice",
    );
  });

  it("refuses a wrong password and an unknown user with 401", async () => {
    for (const creds of ["alice:nope", "mallory:s3cret"]) {
      const res = await httpRequest(
        `${running.url}/token?service=registry.pullstorm.test&scope=repository:library/redis:pull`,
        {
          headers: { authorization: `Basic ${Buffer.from(creds).toString("base64")}` },
        },
      );
      expect(res.status).toBe(401);
      expect(JSON.parse(res.body.toString()).errors[0].message).toBe(
        "incorrect username or password",
      );
    }
  });

  it("answers the OAuth2 password grant that containerd uses", async () => {
    const res = await httpRequest(`${running.url}/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "grant_type=password&username=alice&password=s3cret&service=registry.pullstorm.test&scope=repository%3Alibrary%2Fredis%3Apull&client_id=ctr",
    });
    expect(res.status).toBe(200);
    const body = JSON.parse(res.body.toString());
    expect(body.access_token).toMatch(/^ey/);
    expect(body.scope).toBe("repository:library/redis:pull");
  });

  it("does not let a token for one repository pull another", async () => {
    const token = await pullToken(running.url, "library/redis");
    const res = await httpRequest(`${running.url}/v2/library/alpine/manifests/3.20`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(401);
    expect(res.headers["www-authenticate"]).toContain('error="insufficient_scope"');
  });

  it("refuses tampered, expired and wrong-service tokens with invalid_token", async () => {
    const token = await pullToken(running.url, "library/redis");
    const [h, p] = token.split(".") as [string, string];
    const forged = `${h}.${p}.${"A".repeat(43)}`;
    const signer = running.registry.signer;
    if (!signer) throw new Error("auth should be on");
    const now = running.registry.clock.now();
    const expired = (
      await signer.sign(
        "",
        [{ type: "repository", name: "library/redis", actions: ["pull"] }],
        now - 600_000,
      )
    ).token;
    const other = (await import("../fake-registry/auth/tokens.ts")).TokenSigner;
    // same secret is not available; a signer for another service with its own key fails on signature or audience
    const foreign = (
      await new other({
        issuer: "pullstorm-token-service",
        service: "elsewhere",
        lifetimeSeconds: 300,
      }).sign("", [], now)
    ).token;
    for (const [bad, reason] of [
      [forged, "signature"],
      [expired, "expired"],
      [foreign, ""],
      ["not-a-jwt", "malformed"],
    ] as const) {
      const res = await httpRequest(`${running.url}/v2/library/redis/manifests/7`, {
        headers: { authorization: `Bearer ${bad}` },
      });
      expect(res.status).toBe(401);
      expect(res.headers["www-authenticate"]).toContain('error="invalid_token"');
      expect(JSON.parse(res.body.toString()).errors[0].message).toContain(reason);
    }
  });

  it("refuses a token whose audience is another service even with a valid signature", async () => {
    const { TokenSigner } = await import("../fake-registry/auth/tokens.ts");
    const { createRegistry, serveRegistry } = await import("../fake-registry/index.ts");
    const a = await serveRegistry(createRegistry({ service: "one.test", tokenSecret: "shared" }));
    try {
      const signer = new TokenSigner({
        issuer: "pullstorm-token-service",
        service: "two.test",
        secret: "shared",
        lifetimeSeconds: 300,
      });
      const { token } = await signer.sign(
        "",
        [{ type: "repository", name: "library/redis", actions: ["pull"] }],
        Date.now(),
      );
      const res = await httpRequest(`${a.url}/v2/library/redis/manifests/7`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(res.status).toBe(401);
      expect(JSON.parse(res.body.toString()).errors[0].message).toBe(
        'token is for another service, not "one.test"',
      );
      const wrongService = await httpRequest(
        `${a.url}/token?service=two.test&scope=repository:library/redis:pull`,
      );
      expect(wrongService.status).toBe(400);
    } finally {
      await a.close();
    }
  });
});

describe("private images and accounts", () => {
  it("grants a private repository only to its users: a partial grant, not an error", async () => {
    const { Catalog } = await import("../fake-registry/catalog/catalog.ts");
    const { Registry } = await import("../fake-registry/registry/registry.ts");
    const { SystemClock } = await import("../fake-registry/core/clock.ts");
    const { serveRegistry } = await import("../fake-registry/index.ts");
    const catalog = new Catalog({
      seed: 1,
      images: [
        {
          name: "acme/secret",
          tags: { latest: {} },
          platforms: [{ os: "linux", architecture: "amd64" }],
          base: "alpine",
          format: "oci",
          users: ["alice"],
        },
      ],
    });
    const running = await serveRegistry(
      new Registry({
        catalog,
        clock: new SystemClock(),
        auth: { service: "registry.pullstorm.test", accounts: [ALICE] },
      }),
    );
    try {
      const anon = await pullToken(running.url, "acme/secret");
      expect(
        JSON.parse(Buffer.from(anon.split(".")[1] as string, "base64url").toString()).access,
      ).toEqual([]);
      const denied = await httpRequest(`${running.url}/v2/acme/secret/manifests/latest`, {
        headers: { authorization: `Bearer ${anon}` },
      });
      expect(denied.status).toBe(401);
      const alice = await pullToken(running.url, "acme/secret", {
        user: "alice",
        password: "s3cret",
      });
      const ok = await httpRequest(`${running.url}/v2/acme/secret/manifests/latest`, {
        headers: { authorization: `Bearer ${alice}` },
      });
      expect(ok.status).toBe(200);
    } finally {
      await running.close();
    }
  });
});

describe("stats", () => {
  it("counts by kind, method and status, and by identity: client IP or account", async () => {
    const running = await startRegistry({ accounts: [ALICE] });
    try {
      const anonToken = await pullToken(running.url, "library/redis");
      for (const ip of ["127.0.0.2", "127.0.0.3"]) {
        await httpRequest(`${running.url}/v2/library/redis/manifests/7`, {
          localAddress: ip,
          headers: { authorization: `Bearer ${anonToken}` },
        });
      }
      await httpRequest(`${running.url}/v2/library/redis/manifests/7`, {
        localAddress: "127.0.0.3",
        method: "HEAD",
        headers: { authorization: `Bearer ${anonToken}` },
      });
      const aliceToken = await pullToken(running.url, "library/redis", {
        user: "alice",
        password: "s3cret",
      });
      await httpRequest(`${running.url}/v2/library/redis/manifests/7`, {
        localAddress: "127.0.0.2",
        headers: { authorization: `Bearer ${aliceToken}` },
      });
      const res = await httpRequest(`${running.url}/_pullstorm/stats`);
      const stats = JSON.parse(res.body.toString());
      expect(stats.byKind.manifest.GET["200"]).toBe(3);
      expect(stats.byKind.manifest.HEAD["200"]).toBe(1);
      expect(stats.byKind.token.GET["200"]).toBe(2);
      expect(stats.byIdentity["127.0.0.2"].byKind.manifest.GET["200"]).toBe(1);
      expect(stats.byIdentity["127.0.0.3"].byKind.manifest).toEqual({
        GET: { "200": 1 },
        HEAD: { "200": 1 },
      });
      expect(stats.byIdentity.alice).toMatchObject({
        type: "account",
        byKind: { manifest: { GET: { "200": 1 } } },
      });
    } finally {
      await running.close();
    }
  });

  it("runs without auth when asked: no challenge, everyone anonymous by IP", async () => {
    const running = await startRegistry({ auth: false });
    try {
      const res = await httpRequest(`${running.url}/v2/library/busybox/manifests/latest`);
      expect(res.status).toBe(200);
      expect((await httpRequest(`${running.url}/token`)).status).toBe(404);
    } finally {
      await running.close();
    }
  });
});
