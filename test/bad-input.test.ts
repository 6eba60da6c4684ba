// Hostile and malformed requests: every one gets an OCI error body with the right
// code and status, never a crash, a hang or a stack trace, and the registry keeps serving.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningRegistry } from "../fake-registry/index.ts";
import { httpRequest, rawRequest } from "./helpers/http.ts";
import { pullToken, startRegistry } from "./helpers/registry.ts";

const CODES = new Set([
  "BLOB_UNKNOWN",
  "DIGEST_INVALID",
  "MANIFEST_UNKNOWN",
  "NAME_INVALID",
  "NAME_UNKNOWN",
  "SIZE_INVALID",
  "UNAUTHORIZED",
  "UNSUPPORTED",
]);

function parseRaw(answer: string): { status: number; head: string; body: string } {
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);
  const split = answer.indexOf("\r\n\r\n");
  return { status, head: answer.slice(0, split), body: answer.slice(split + 4) };
}

function expectOciError(status: number, body: string, expectedStatus: number, code: string) {
  expect(status, body).toBe(expectedStatus);
  const parsed = JSON.parse(body);
  expect(parsed.errors, body).toBeDefined();
  expect(parsed.errors[0].code).toBe(code);
  expect(CODES.has(parsed.errors[0].code)).toBe(true);
  expect(body).not.toMatch(/\bat .+\.(ts|js):\d+|Error:|node_modules/);
}

describe("bad input", () => {
  let running: RunningRegistry;
  let token: string;
  let port: number;
  const get = async (path: string, method = "GET") => {
    const res = await httpRequest(`${running.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}` },
    });
    return { status: res.status, body: res.body.toString() };
  };
  const raw = async (path: string, method = "GET", extra = "") =>
    parseRaw(
      await rawRequest(
        "127.0.0.1",
        port,
        `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${token}\r\n${extra}Connection: close\r\n\r\n`,
      ),
    );

  beforeAll(async () => {
    running = await startRegistry();
    port = Number(new URL(running.url).port);
    token = await pullToken(running.url, "library/nginx");
  });
  afterAll(() => running?.close());

  it("unknown names and tags", async () => {
    const unknownToken = await pullToken(running.url, "nobody/here");
    const res = await httpRequest(`${running.url}/v2/nobody/here/manifests/latest`, {
      headers: { authorization: `Bearer ${unknownToken}` },
    });
    expectOciError(res.status, res.body.toString(), 404, "NAME_UNKNOWN");
    const tag = await get("/v2/library/nginx/manifests/9.99");
    expectOciError(tag.status, tag.body, 404, "MANIFEST_UNKNOWN");
    const badTag = await get(`/v2/library/nginx/manifests/-${"x".repeat(200)}`);
    expectOciError(badTag.status, badTag.body, 404, "MANIFEST_UNKNOWN");
  });

  it("malformed and mismatched digests", async () => {
    for (const digest of [
      "sha256:xyz",
      "sha256:ABCDEF",
      `sha256:${"a".repeat(63)}`,
      "md5:d41d8cd98f00b204e9800998ecf8427e",
      "sha256:",
    ]) {
      const res = await get(`/v2/library/nginx/blobs/${digest}`);
      expectOciError(res.status, res.body, 400, "DIGEST_INVALID");
    }
    const wellFormed = `sha256:${"0".repeat(64)}`;
    const blob = await get(`/v2/library/nginx/blobs/${wellFormed}`);
    expectOciError(blob.status, blob.body, 404, "BLOB_UNKNOWN");
    const manifest = await get(`/v2/library/nginx/manifests/${wellFormed}`);
    expectOciError(manifest.status, manifest.body, 404, "MANIFEST_UNKNOWN");
    const badManifestDigest = await get("/v2/library/nginx/manifests/sha256:nothex");
    expectOciError(badManifestDigest.status, badManifestDigest.body, 400, "DIGEST_INVALID");
  });

  it("path traversal, encoded separators and header injection in names", async () => {
    for (const path of [
      "/v2/../../etc/passwd/manifests/latest",
      "/v2/library/../../etc/manifests/latest",
      "/v2/library/%2e%2e/%2e%2e/etc/manifests/latest",
      "/v2/library%2F..%2F..%2Fetc/blobs/sha256:0000000000000000000000000000000000000000000000000000000000000000",
      "/v2/library/nginx%0d%0aSet-Cookie:%20x=1/manifests/latest",
      "/v2/LIBRARY/NGINX/manifests/latest",
      "/v2//manifests/latest",
    ]) {
      const res = await raw(path);
      expectOciError(res.status, res.body, 400, "NAME_INVALID");
      // echoed only inside the JSON body, never as a header
      expect(res.head.toLowerCase()).not.toContain("set-cookie");
    }
    const badEncoding = await raw("/v2/library/ngi%zznx/manifests/latest");
    expectOciError(badEncoding.status, badEncoding.body, 400, "NAME_INVALID");
  });

  it("over-long names and URLs", async () => {
    const long = `library/${"a".repeat(300)}`;
    const res = await get(`/v2/${long}/manifests/latest`);
    expectOciError(res.status, res.body, 400, "NAME_INVALID");
    expect(JSON.parse(res.body).errors[0].detail.reason).toMatch(/longer than 255/);
    const veryLong = await raw(`/v2/${"a/".repeat(3000)}x/manifests/latest`);
    expectOciError(veryLong.status, veryLong.body, 400, "NAME_INVALID");
  });

  it("huge headers get 431 with an OCI body", async () => {
    const res = await raw("/v2/", "GET", `X-Padding: ${"p".repeat(20_000)}\r\n`);
    expectOciError(res.status, res.body, 431, "UNSUPPORTED");
    const many = await raw(
      "/v2/",
      "GET",
      Array.from({ length: 3000 }, (_, i) => `X-H${i}: v\r\n`).join(""),
    );
    expect([400, 431]).toContain(many.status);
    expect(JSON.parse(many.body).errors[0].code).toBe("UNSUPPORTED");
  });

  it("push and other unsupported methods", async () => {
    for (const [method, path] of [
      ["PUT", "/v2/library/nginx/manifests/latest"],
      ["DELETE", "/v2/library/nginx/manifests/latest"],
      ["POST", "/v2/library/nginx/blobs/uploads/"],
      ["PATCH", "/v2/library/nginx/blobs/uploads/1234"],
      ["DELETE", `/v2/library/nginx/blobs/sha256:${"0".repeat(64)}`],
      ["OPTIONS", "/v2/"],
    ] as const) {
      const res = await raw(path, method);
      expectOciError(res.status, res.body, 405, "UNSUPPORTED");
    }
    // a HEAD answer has no body to carry the error
    expect((await raw("/v2/library/nginx/tags/list", "HEAD")).status).toBe(405);
    for (const method of ["PROPFIND", "BREW", "CONNECT"]) {
      const res = await raw("/v2/", method);
      expect([400, 405]).toContain(res.status);
      expect(JSON.parse(res.body).errors[0].code).toBe("UNSUPPORTED");
    }
  });

  it("oversized and malformed token requests", async () => {
    const big = await httpRequest(`${running.url}/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `grant_type=password&username=${"u".repeat(100_000)}`,
    });
    expect(big.status).toBe(413);
    expect(JSON.parse(big.body.toString()).errors[0].code).toBe("UNSUPPORTED");
    const grant = await httpRequest(`${running.url}/token`, {
      method: "POST",
      body: "grant_type=refresh_token",
    });
    expectOciError(grant.status, grant.body.toString(), 400, "UNSUPPORTED");
    const basic = await httpRequest(`${running.url}/token`, {
      headers: { authorization: "Basic !!!notbase64" },
    });
    expectOciError(basic.status, basic.body.toString(), 401, "UNAUTHORIZED");
    const tags = await get("/v2/library/nginx/tags/list?n=-1");
    expectOciError(tags.status, tags.body, 400, "UNSUPPORTED");
  });

  it("keeps serving after all of it", async () => {
    const res = await get("/v2/library/nginx/manifests/1.25");
    expect(res.status).toBe(200);
    const unknown = await raw("/favicon.ico");
    expectOciError(unknown.status, unknown.body, 404, "UNSUPPORTED");
  });
});
