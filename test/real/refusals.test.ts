// Every way the fake registry says no, as real clients see it: skopeo 1.9.3
// (containers/image) and, where cheap, containerd 1.6's `ctr`. Each test asserts
// what the client actually does with the refusal (retry, wait, give up, which text
// it shows) and, over plain HTTP, the exact shape of the refusal itself.
//
// What containers/image does with refusals (docker_client.go, seen in --debug):
// - 429 on a registry request (ping, manifest, blob): up to 5 attempts, sleeping
//   Retry-After seconds when the header is there (capped at 60), else 2, 4, 8, 16 s
//   (30 s in all) before reporting the last response's error.
// - any 429 on the token request: no retry, and the body is dropped: it reports
//   "too many requests to registry" whatever the registry said.
// - other statuses (401, 403): no retry.
// The skopeo tests run concurrently (each has its own registry) because three of
// them have to sit through that 30 s backoff.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import type { Account } from "../../fake-registry/auth/users.ts";
import type { Clock } from "../../fake-registry/core/clock.ts";
import {
  createRegistry,
  type FakeRegistryOptions,
  ManualClock,
  type RunningRegistry,
  serveRegistry,
} from "../../fake-registry/index.ts";
import { parsePolicyDocument } from "../../fake-registry/policy/file.ts";
import { type PrivateContainerd, startPrivateContainerd } from "../helpers/containerd.ts";
import { httpRequest, type SimpleResponse } from "../helpers/http.ts";
import { runCommand, waitFor } from "../helpers/processes.ts";
import { pullToken } from "../helpers/registry.ts";
import { checkTools } from "../helpers/tools.ts";

const tools = checkTools("skopeo");
const ctrTools = checkTools("ctr", "containerd");

const ALICE: Account = { name: "alice", password: "s3cret", plan: "free" };
const DOCKER_HUB_ANONYMOUS =
  "toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit";
const NGINX_429 =
  "<html>\r\n<head><title>429 Too Many Requests</title></head>\r\n<body>\r\n<center><h1>429 Too Many Requests</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
const MANIFEST_ACCEPT = [
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.oci.image.manifest.v1+json",
].join(", ");

/** Scaled registries: 1 h of registry time per wall second (tokens still live 300 wall seconds). */
const SCALE = 3600;

const open: RunningRegistry[] = [];

/** A registry with a policy document applied to dockerhub-2020; closed in afterAll. */
async function start(
  doc: unknown,
  options: Omit<FakeRegistryOptions, "policy"> = {},
): Promise<RunningRegistry> {
  const policy = parsePolicyDocument(doc, "dockerhub-2020");
  if ("errors" in policy) throw new Error(`bad policy document: ${policy.errors.join("; ")}`);
  const running = await serveRegistry(createRegistry({ ...options, policy }), {
    host: "127.0.0.1",
    port: 0,
  });
  open.push(running);
  return running;
}

afterAll(async () => {
  await Promise.all(open.map((r) => r.close()));
});

function hostOf(running: RunningRegistry): string {
  return running.url.replace("http://", "");
}

async function timed<T>(run: () => Promise<T>): Promise<T & { ms: number }> {
  const started = performance.now();
  const result = await run();
  return { ...result, ms: performance.now() - started };
}

/** `skopeo [global...] inspect --raw --tls-verify=false [extra...] docker://HOST/image`, timed. */
function inspect(
  running: RunningRegistry,
  image: string,
  options: { extra?: string[]; global?: string[]; timeoutMs?: number } = {},
) {
  return timed(() =>
    runCommand(
      "skopeo",
      [
        ...(options.global ?? []),
        "inspect",
        "--raw",
        "--tls-verify=false",
        ...(options.extra ?? []),
        `docker://${hostOf(running)}/${image}`,
      ],
      { timeoutMs: options.timeoutMs ?? 50_000 },
    ),
  );
}

/** A direct manifest GET, with a token when given. */
function getManifest(running: RunningRegistry, path: string, token?: string) {
  return httpRequest(`${running.url}/v2/${path}`, {
    headers: {
      accept: MANIFEST_ACCEPT,
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
  });
}

/** Uses up quota with one direct, admitted manifest GET (anonymous unless credentials are given). */
async function useOneManifestGet(
  running: RunningRegistry,
  credentials?: { user: string; password: string },
): Promise<SimpleResponse> {
  const token = await pullToken(running.url, "library/alpine", credentials);
  return getManifest(running, "library/alpine/manifests/3.20", token);
}

function errorsOf(res: SimpleResponse): { code: string; message: string }[] {
  return (JSON.parse(res.body.toString()) as { errors: { code: string; message: string }[] })
    .errors;
}

/**
 * Registry time that moves only when told, Retry-After in wall seconds as a registry
 * scaled by `scale` says it, tokens in wall time (as a scaled registry issues them).
 */
class HeldClock implements Clock {
  readonly startedAt = Date.now();
  readonly scale: number;
  private current = this.startedAt;
  constructor(scale: number) {
    this.scale = scale;
  }
  now(): number {
    return this.current;
  }
  tokenNow(): number {
    return Date.now();
  }
  advance(ms: number): void {
    this.current += ms;
  }
}

function manifestGets(running: RunningRegistry, status: number): number {
  return running.registry.stats.count("manifest", "GET", status);
}

describe.concurrent("refusals as skopeo sees them", () => {
  // The three slow ones first: they start at once and sit out their 30 s backoff together.

  it("quota 429 without Retry-After: skopeo backs off 2+4+8+16 s, then shows Docker Hub's message", async (ctx) => {
    if (!tools.available) return ctx.skip(tools.reason);
    const { expect } = ctx;
    const running = await start({ limits: { pulls: { anonymous: { limit: 1, window: "6h" } } } });
    expect((await useOneManifestGet(running)).status).toBe(200);

    // The refusal over HTTP: Docker Hub's 429, rate-limit headers, no Retry-After.
    const token = await pullToken(running.url, "library/alpine");
    const refused = await getManifest(running, "library/alpine/manifests/3.20", token);
    expect(refused.status).toBe(429);
    expect(refused.headers["retry-after"]).toBeUndefined();
    expect(refused.headers["ratelimit-remaining"]).toBe("0;w=21600");
    expect(refused.headers["docker-ratelimit-source"]).toBe("127.0.0.1");
    expect(errorsOf(refused)[0]?.code).toBe("TOOMANYREQUESTS");

    const before = manifestGets(running, 429);
    const result = await inspect(running, "library/alpine:3.20");
    expect(result.status, result.stderr).toBe(1);
    expect(result.stderr).toContain(
      `reading manifest 3.20 in ${hostOf(running)}/library/alpine: ${DOCKER_HUB_ANONYMOUS}`,
    );
    // containers/image tried 5 times, sleeping 2, 4, 8 and 16 s in between.
    expect(manifestGets(running, 429) - before).toBe(5);
    expect(result.ms).toBeGreaterThanOrEqual(29_000);
  });

  it("account quota 429: skopeo --creds shows the message naming the account", async (ctx) => {
    if (!tools.available) return ctx.skip(tools.reason);
    const { expect } = ctx;
    const running = await start(
      { limits: { pulls: { free: { limit: 1, window: "6h" } } } },
      { accounts: [ALICE] },
    );
    const used = await useOneManifestGet(running, { user: ALICE.name, password: ALICE.password });
    expect(used.status).toBe(200);
    expect(used.headers["docker-ratelimit-source"]).toBe("alice");

    const result = await inspect(running, "library/alpine:3.20", {
      extra: [`--creds=${ALICE.name}:${ALICE.password}`],
    });
    expect(result.status, result.stderr).toBe(1);
    expect(result.stderr).toContain(
      "toomanyrequests: You have reached your pull rate limit as 'alice'. You may increase the limit by upgrading: https://www.docker.com/increase-rate-limit",
    );
    const alice = running.registry.stats.snapshot().byIdentity.alice;
    expect(alice?.type).toBe("account");
    expect(alice?.byKind.manifest?.GET?.["429"]).toBe(5);
    expect(alice?.byKind.manifest?.GET?.["200"]).toBe(1);
  });

  it("edge layer: an nginx HTML 429 even before auth; skopeo retries it, then shows the HTML", async (ctx) => {
    if (!tools.available) return ctx.skip(tools.reason);
    const { expect } = ctx;
    // Rules replace the preset's: an edge rule counting every request (rolling, so
    // no window boundary can fall inside the test) and the Docker Hub pull quota.
    const running = await start({
      rules: [
        {
          name: "edge",
          layer: "edge",
          counts: [{ kind: "*" }],
          anonymousBy: "ip",
          authenticatedBy: "ip",
          limits: { default: { limit: 2, window: "1m", algorithm: "rolling" } },
          refusal: { type: "html", status: 429, body: NGINX_429 },
        },
        {
          name: "pulls",
          layer: "registry",
          counts: [{ kind: "manifest", method: "GET" }],
          limits: { anonymous: { limit: 100, window: "6h" } },
          headers: true,
          refusal: {
            type: "oci",
            anonymous: "You have reached your pull rate limit.",
            account: "You have reached your pull rate limit as '{user}'.",
          },
        },
      ],
    });
    // ping (401) and token pass the edge; the manifest GET is the third request.
    const result = await inspect(running, "library/alpine:3.20");
    expect(result.status, result.stderr).toBe(1);
    // containers/image cannot parse the HTML as OCI errors and shows its start.
    expect(result.stderr).toContain(
      `reading manifest 3.20 in ${hostOf(running)}/library/alpine: StatusCode: 429, <html>`,
    );
    expect(result.stderr).toContain("<title>429 Too Many Requests</title>");
    expect(manifestGets(running, 429)).toBe(5);
    expect(result.ms).toBeGreaterThanOrEqual(29_000);

    // Over HTTP: no token, yet no 401 challenge: the edge answers before auth.
    for (const path of ["/v2/library/alpine/manifests/3.20", "/token", "/v2/"]) {
      const res = await httpRequest(`${running.url}${path}`);
      expect(res.status, path).toBe(429);
      expect(res.headers["content-type"], path).toBe("text/html");
      expect(res.headers["www-authenticate"], path).toBeUndefined();
      expect(res.body.toString(), path).toBe(NGINX_429);
    }
  });

  it("quota 429 with Retry-After: skopeo sleeps what it says, retries and succeeds", async (ctx) => {
    if (!tools.available) return ctx.skip(tools.reason);
    const { expect } = ctx;
    // Registry time stands still until skopeo has been refused, then jumps the hour: on a
    // busy machine skopeo took more than the 1 wall second of a scaled window to start, and
    // its first GET was admitted (no 429 to retry). Tokens stay in wall time, so skopeo's
    // cached token (expires_in 300) still works when it retries a second later.
    const clock = new HeldClock(SCALE);
    const running = await start(
      {
        limits: { pulls: { anonymous: { limit: 1, window: "1h" } } },
        retryAfter: { pulls: true },
      },
      { clock },
    );
    expect((await useOneManifestGet(running)).status).toBe(200);
    // 1 h of registry time is 1 s of wall time: Retry-After says 1 (wall seconds).
    const token = await pullToken(running.url, "library/alpine");
    const refused = await getManifest(running, "library/alpine/manifests/3.20", token);
    expect(refused.status).toBe(429);
    expect(refused.headers["retry-after"]).toBe("1");

    const inspecting = inspect(running, "library/alpine:3.20", { global: ["--debug"] });
    // skopeo's own GET refused (the second 429): the hour passes before its retry, 1 s later.
    // A timer in this process runs before the retry's request is read (timers come first in
    // Node's event loop), however late this process is scheduled.
    await waitFor(
      () => manifestGets(running, 429) >= 2,
      40_000,
      () => "skopeo was never refused",
    );
    clock.advance(3_600_000);
    const result = await inspecting;
    expect(result.status, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout).mediaType).toBe(
      "application/vnd.docker.distribution.manifest.list.v2+json",
    );
    expect(result.stderr).toContain(`Detected 'Retry-After' header \\"1\\"`);
    expect(result.stderr).toContain(
      `Too many requests to http://${hostOf(running)}/v2/library/alpine/manifests/3.20: sleeping for 1.000000 seconds before next attempt`,
    );
    // the direct 429 above and skopeo's; then skopeo's retry was admitted
    expect(manifestGets(running, 429)).toBeGreaterThanOrEqual(2);
    expect(manifestGets(running, 200)).toBe(2);
    expect(result.ms).toBeGreaterThanOrEqual(950);
  });

  it("abuse limit (HAP429) on the ping: plain text, Retry-After 60, and skopeo waits it out", async (ctx) => {
    if (!tools.available) return ctx.skip(tools.reason);
    const { expect } = ctx;
    // A clock that does not move, so the fixed minute cannot roll over mid-test.
    const running = await start(
      { limits: { abuse: { default: { limit: 3, window: "1m", algorithm: "fixed" } } } },
      { clock: new ManualClock() },
    );
    // One skopeo inspect is exactly ping, token and manifest GET: three requests.
    const first = await inspect(running, "library/alpine:3.20");
    expect(first.status, first.stderr).toBe(0);

    // The fourth request, without a token: refused before auth, Docker's HAP429 shape.
    const refused = await httpRequest(`${running.url}/v2/library/alpine/manifests/3.20`);
    expect(refused.status).toBe(429);
    expect(refused.headers["content-type"]).toBe("text/plain");
    expect(refused.headers["retry-after"]).toBe("60");
    expect(refused.headers["www-authenticate"]).toBeUndefined();
    expect(refused.body.toString()).toBe("429 Too Many Requests (HAP429).\n");

    // containers/image honours Retry-After: 60 on the ping and would sleep a minute
    // (then retry, up to 5 times); --command-timeout cuts it short.
    const result = await inspect(running, "library/alpine:3.20", {
      global: ["--debug", "--command-timeout", "4s"],
      timeoutMs: 20_000,
    });
    expect(result.status, result.stderr).toBe(1);
    expect(result.stderr).toContain(`Detected 'Retry-After' header \\"60\\"`);
    expect(result.stderr).toContain(
      `Too many requests to http://${hostOf(running)}/v2/: sleeping for 60.000000 seconds before next attempt`,
    );
    expect(result.stderr).toContain(
      `pinging container registry ${hostOf(running)}: context deadline exceeded`,
    );
    expect(result.ms).toBeGreaterThanOrEqual(3_500);
    expect(result.ms).toBeLessThan(15_000);
    expect(running.registry.stats.count("ping", "GET", 429)).toBe(1);
  });

  it("abuse limit (HAP429) on the token request: skopeo gives up at once, body dropped", async (ctx) => {
    if (!tools.available) return ctx.skip(tools.reason);
    const { expect } = ctx;
    const running = await start(
      { limits: { abuse: { default: { limit: 1, window: "1m", algorithm: "fixed" } } } },
      { clock: new ManualClock() },
    );
    // The ping is admitted, the token request is the second and is refused.
    const result = await inspect(running, "library/alpine:3.20");
    expect(result.status, result.stderr).toBe(1);
    expect(result.stderr).toContain(
      `Error parsing image name \\"docker://${hostOf(running)}/library/alpine:3.20\\": too many requests to registry`,
    );
    expect(result.stderr).not.toContain("HAP429");
    expect(result.ms).toBeLessThan(5_000);
    expect(running.registry.stats.count("token", "GET", 429)).toBe(1);
    expect(running.registry.stats.count("manifest", "GET")).toBe(0);
  });

  it("misleading DENIED: past the quota a 403 hides the throttling, and skopeo just says 'denied'", async (ctx) => {
    if (!tools.available) return ctx.skip(tools.reason);
    const { expect } = ctx;
    const running = await start({
      limits: { pulls: { anonymous: { limit: 1, window: "6h" } } },
      misleading: { aboveRps: 0, status: 403, probability: 0 },
    });
    expect((await useOneManifestGet(running)).status).toBe(200);
    const token = await pullToken(running.url, "library/alpine");
    const refused = await getManifest(running, "library/alpine/manifests/3.20", token);
    expect(refused.status).toBe(403);
    expect(refused.headers["retry-after"]).toBeUndefined();
    expect(errorsOf(refused)).toEqual([
      { code: "DENIED", message: "requested access to the resource is denied" },
    ]);

    const result = await inspect(running, "library/alpine:3.20");
    expect(result.status, result.stderr).toBe(1);
    // The message equals the DENIED code's default text, so containers/image keeps
    // only the code: "denied", with no word of rate limits.
    expect(result.stderr).toContain(
      `reading manifest 3.20 in ${hostOf(running)}/library/alpine: denied"\n`,
    );
    expect(result.stderr).not.toMatch(/toomanyrequests|rate limit/i);
    // A 403 is not retried.
    expect(result.ms).toBeLessThan(5_000);
    expect(manifestGets(running, 403)).toBe(2);
    expect(manifestGets(running, 429)).toBe(0);
  });

  it("failed-login lockout: after 3 wrong passwords the right one gets 'too many requests to registry'", async (ctx) => {
    if (!tools.available) return ctx.skip(tools.reason);
    const { expect } = ctx;
    const running = await start(
      { lockout: { attempts: 3, window: "10m", lock: "10m" } },
      { accounts: [ALICE] },
    );
    for (let attempt = 1; attempt <= 3; attempt++) {
      const wrong = await inspect(running, "library/alpine:3.20", {
        extra: [`--creds=${ALICE.name}:wrong`],
      });
      expect(wrong.status, wrong.stderr).toBe(1);
      expect(wrong.stderr).toContain(
        "unable to retrieve auth token: invalid username/password: unauthorized: incorrect username or password",
      );
    }
    expect(running.registry.stats.count("token", "GET", 401)).toBe(3);

    const right = await inspect(running, "library/alpine:3.20", {
      extra: [`--creds=${ALICE.name}:${ALICE.password}`],
    });
    expect(right.status, right.stderr).toBe(1);
    // containers/image turns any 429 from the token service into this fixed text:
    // the registry's "too many failed login attempts" never reaches the user.
    expect(right.stderr).toContain(": too many requests to registry");
    expect(right.stderr).not.toContain("failed login");
    expect(running.registry.stats.count("token", "GET", 429)).toBe(1);

    // What the registry said, over HTTP:
    const auth = Buffer.from(`${ALICE.name}:${ALICE.password}`).toString("base64");
    const locked = await httpRequest(
      `${running.url}/token?service=registry.pullstorm.test&scope=repository:library/alpine:pull`,
      { headers: { authorization: `Basic ${auth}` } },
    );
    expect(locked.status).toBe(429);
    expect(locked.headers["retry-after"]).toBe("600");
    expect(errorsOf(locked)[0]).toMatchObject({
      code: "TOOMANYREQUESTS",
      message: "too many failed login attempts for username or IP address",
    });

    // The lock is on the address too: anonymous pulls from it are refused as well.
    const anonymous = await inspect(running, "library/alpine:3.20");
    expect(anonymous.status, anonymous.stderr).toBe(1);
    expect(anonymous.stderr).toContain(": too many requests to registry");
  });

  it("GCRA 1/s (ecr-public): two inspects at once, one is refused 'Rate exceeded' and succeeds 2 s later", async (ctx) => {
    if (!tools.available) return ctx.skip(tools.reason);
    const { expect } = ctx;
    const running = await start({ preset: "ecr-public" });
    // Started together, both manifest GETs land within the same second: GCRA with
    // burst 0 admits one. containers/image retries a 429 without Retry-After after
    // 2 s, when the cell has refilled, so both inspects succeed: the refusal shows
    // up only in the registry's stats and in --debug, as a 2 s delay.
    const [a, b] = await Promise.all([
      inspect(running, "library/alpine:3.20", { global: ["--debug"] }),
      inspect(running, "library/nginx:1.25", { global: ["--debug"] }),
    ]);
    expect(a.status, a.stderr).toBe(0);
    expect(b.status, b.stderr).toBe(0);
    expect(manifestGets(running, 200)).toBe(2);
    expect(manifestGets(running, 429)).toBe(1);
    const slept = [a, b].filter((r) =>
      r.stderr.includes("sleeping for 2.000000 seconds before next attempt"),
    );
    expect(slept).toHaveLength(1);
    expect(slept[0]?.ms).toBeGreaterThanOrEqual(2_000);

    // The refusal itself: ECR's text, no Retry-After.
    const token = await pullToken(running.url, "library/alpine");
    const responses = [
      await getManifest(running, "library/alpine/manifests/3.20", token),
      await getManifest(running, "library/alpine/manifests/3.20", token),
    ];
    const refused = responses[1] as SimpleResponse;
    expect(refused.status).toBe(429);
    expect(refused.headers["retry-after"]).toBeUndefined();
    expect(errorsOf(refused)[0]).toMatchObject({
      code: "TOOMANYREQUESTS",
      message: "Rate exceeded",
    });
  });
});

describe("refusals as containerd's ctr sees them", () => {
  let work: string;
  let containerd: PrivateContainerd | undefined;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "pullstorm-refusals-ctr-"));
    if (ctrTools.available) containerd = await startPrivateContainerd(work);
  });
  afterAll(async () => {
    await containerd?.daemon.stop("SIGTERM");
    if (work) rmSync(work, { recursive: true, force: true });
  });

  function ctrFetch(namespace: string, running: RunningRegistry, extra: string[] = []) {
    if (!containerd) throw new Error("containerd is not running");
    const daemon = containerd;
    return timed(() =>
      daemon.ctr(namespace, [
        "content",
        "fetch",
        "--plain-http",
        ...extra,
        `${hostOf(running)}/library/alpine:3.20`,
      ]),
    );
  }

  it("quota 429: the tag HEAD is free, the GET by digest is refused and ctr shows the message at once", async (ctx) => {
    if (!ctrTools.available) return ctx.skip(ctrTools.reason);
    const { expect } = ctx;
    const running = await start({ limits: { pulls: { anonymous: { limit: 0, window: "6h" } } } });
    const result = await ctrFetch("quota", running);
    const output = result.stdout + result.stderr;
    expect(result.status, output).not.toBe(0);
    expect(output).toContain(`429 Too Many Requests - Server message: ${DOCKER_HUB_ANONYMOUS}`);
    // HEADs cost 0 on Docker Hub: containerd resolves the tag, then is refused.
    expect(running.registry.stats.count("manifest", "HEAD", 200)).toBeGreaterThanOrEqual(1);
    expect(manifestGets(running, 429)).toBeGreaterThanOrEqual(1);
    expect(manifestGets(running, 200)).toBe(0);
    // containerd does not back off.
    expect(result.ms).toBeLessThan(10_000);
  });

  it("misleading DENIED: ctr shows '403 Forbidden - Server message: denied'", async (ctx) => {
    if (!ctrTools.available) return ctx.skip(ctrTools.reason);
    const { expect } = ctx;
    const running = await start({
      limits: { pulls: { anonymous: { limit: 0, window: "6h" } } },
      misleading: { aboveRps: 0, status: 403, probability: 0 },
    });
    const result = await ctrFetch("denied", running);
    const output = result.stdout + result.stderr;
    expect(result.status, output).not.toBe(0);
    expect(output).toContain("403 Forbidden - Server message: denied");
    expect(output).not.toMatch(/429|toomanyrequests/i);
    expect(manifestGets(running, 403)).toBeGreaterThanOrEqual(1);
  });

  it("abuse limit (HAP429): ctr fails at once, ignoring Retry-After: 60", async (ctx) => {
    if (!ctrTools.available) return ctx.skip(ctrTools.reason);
    const { expect } = ctx;
    const running = await start(
      { limits: { abuse: { default: { limit: 0, window: "1m", algorithm: "fixed" } } } },
      { clock: new ManualClock() },
    );
    const result = await ctrFetch("abuse", running);
    const output = result.stdout + result.stderr;
    expect(result.status, output).not.toBe(0);
    expect(output).toContain(
      `pulling from host ${hostOf(running)} failed with status code [manifests 3.20]: 429 Too Many Requests`,
    );
    expect(running.registry.stats.count("manifest", "HEAD", 429)).toBeGreaterThanOrEqual(1);
    expect(result.ms).toBeLessThan(10_000);
  });

  it("failed-login lockout: containerd tries POST then GET /token, so one bad run is two failures", async (ctx) => {
    if (!ctrTools.available) return ctx.skip(ctrTools.reason);
    const { expect } = ctx;
    const running = await start(
      { lockout: { attempts: 3, window: "10m", lock: "10m" } },
      { accounts: [ALICE] },
    );
    const first = await ctrFetch("lockout", running, ["--user", `${ALICE.name}:wrong`]);
    expect(first.status).not.toBe(0);
    expect(first.stdout + first.stderr).toContain(
      "failed to authorize: failed to fetch oauth token: unexpected status: 401 Unauthorized",
    );
    // The OAuth2 password grant is refused, containerd falls back to GET with Basic.
    expect(running.registry.stats.count("token", "POST", 401)).toBe(1);
    expect(running.registry.stats.count("token", "GET", 401)).toBe(1);

    // The second bad run reaches the third failure (its POST) and is locked out.
    const second = await ctrFetch("lockout", running, ["--user", `${ALICE.name}:wrong`]);
    expect(second.stdout + second.stderr).toContain(
      "failed to fetch oauth token: unexpected status: 429 Too Many Requests",
    );
    const right = await ctrFetch("lockout", running, ["--user", `${ALICE.name}:${ALICE.password}`]);
    const output = right.stdout + right.stderr;
    expect(right.status, output).not.toBe(0);
    // Like skopeo, ctr shows only the status: the lockout message is lost.
    expect(output).toContain(
      "failed to fetch oauth token: unexpected status: 429 Too Many Requests",
    );
    expect(output).not.toContain("failed login");
    expect(running.registry.stats.count("token", "POST", 429)).toBeGreaterThanOrEqual(1);
  });
});
