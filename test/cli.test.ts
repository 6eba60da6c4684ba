import { describe, expect, it } from "vitest";
import { fileIn, inTempDir } from "./helpers/files.ts";
import { httpRequest } from "./helpers/http.ts";
import { pullstorm, startPullstorm, waitFor } from "./helpers/processes.ts";

async function serve(args: string[]) {
  const proc = startPullstorm(["registry", "serve", "--port", "0", ...args]);
  let url = "";
  await waitFor(
    () => {
      const m = /listening on (http:\/\/\S+)/.exec(proc.output());
      if (m) url = m[1] as string;
      return Boolean(m);
    },
    20_000,
    () => `no URL line; output so far:\n${proc.output()}`,
  );
  return { proc, url };
}

describe("pullstorm registry serve", () => {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it(`prints its URL, serves, logs requests with pino and stops on ${signal}`, async () => {
      const { proc, url } = await serve(["--seed", "42", "--user", "ci:pw:team"]);
      try {
        expect(proc.output()).toMatch(
          /^pullstorm registry listening on http:\/\/127\.0\.0\.1:\d+ \(seed 42, 8 images, auth on/m,
        );
        const res = await httpRequest(`${url}/v2/`);
        expect(res.status).toBe(401);
        await waitFor(
          () => proc.output().includes('"msg":"request"'),
          5_000,
          () => proc.output(),
        );
        const line = proc
          .output()
          .split("\n")
          .find((l) => l.includes('"msg":"request"')) as string;
        expect(JSON.parse(line)).toMatchObject({
          method: "GET",
          path: "/v2/",
          status: 401,
          kind: "ping",
          client: "127.0.0.1",
        });
      } finally {
        expect(await proc.stop(signal)).toBe(0);
      }
    });
  }

  it("takes connection limits, --max-clients and --control-host, shows them in /metrics, and refuses bad ones", async () => {
    const { proc, url } = await serve([
      "--log-level",
      "silent",
      "--headers-timeout",
      "4000",
      "--request-timeout",
      "5000",
      "--keep-alive-timeout",
      "3000",
      "--max-requests-per-connection",
      "7",
      "--max-connections-per-address",
      "9",
      "--max-connections",
      "99",
      "--max-clients",
      "500",
      "--control-host",
      "Registry.Example",
    ]);
    try {
      const port = new URL(url).port;
      const metrics = (
        await httpRequest(`${url}/metrics`, { headers: { host: `registry.example:${port}` } })
      ).body.toString();
      for (const [setting, value] of [
        ["headers_timeout_ms", 4000],
        ["request_timeout_ms", 5000],
        ["keep_alive_timeout_ms", 3000],
        ["max_requests_per_socket", 7],
        ["max_connections_per_address", 9],
        ["max_connections", 99],
      ] as const)
        expect(metrics).toContain(`pullstorm_connection_limit{setting="${setting}"} ${value}`);
      const elsewhere = await httpRequest(`${url}/metrics`, {
        headers: { host: `other.example:${port}` },
      });
      expect(elsewhere.status).toBe(403);
    } finally {
      await proc.stop();
    }
    const [order, host, clients] = await Promise.all([
      pullstorm(["registry", "serve", "--headers-timeout", "5000", "--request-timeout", "1000"]),
      pullstorm(["registry", "serve", "--control-host", "evil.example:80"]),
      pullstorm(["registry", "serve", "--max-clients", "0"]),
    ]);
    expect(order.status).toBe(2);
    expect(order.stderr).toMatch(
      /--request-timeout \(1000\) must be at least --headers-timeout \(5000\)/,
    );
    expect(host.status).toBe(2);
    expect(host.stderr).toMatch(/--control-host "evil\.example:80" must be a host name/);
    expect(clients.status).toBe(2);
    expect(clients.stderr).toMatch(/--max-clients must be a whole number from 1/);
  });

  it("serves the same digests for the same seed across processes", async () => {
    const digests: string[] = [];
    for (let i = 0; i < 2; i++) {
      const { proc, url } = await serve(["--seed", "9", "--no-auth", "--log-level", "silent"]);
      try {
        const res = await httpRequest(`${url}/v2/library/alpine/manifests/3.20`);
        digests.push(String(res.headers["docker-content-digest"]));
      } finally {
        await proc.stop();
      }
    }
    expect(digests[0]).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(digests[1]).toBe(digests[0]);
  });

  it("exits 2 with a clear message on bad flags and bad catalog files", () =>
    inTempDir("pullstorm-cli-", async (dir) => {
      const file = fileIn(
        dir,
        "catalog.yaml",
        "images:\n  - name: myorg/web\n    tags: [latest]\n    format: zip\n",
      );
      const [badUser, badPort, badCatalog] = await Promise.all([
        pullstorm(["registry", "serve", "--user", "nopassword"]),
        pullstorm(["registry", "serve", "--port", "70000"]),
        pullstorm(["registry", "serve", "--port", "0", "--catalog", file]),
      ]);
      expect(badUser.status).toBe(2);
      expect(badUser.stderr).toContain(
        '--user "nopassword" must be NAME:PASSWORD, NAME:PASSWORD:PLAN or NAME:PASSWORD:PLAN:ORG',
      );
      expect(badPort.status).toBe(2);
      expect(badPort.stderr).toContain("--port must be a whole number from 0 to 65535");
      expect(badCatalog.status).toBe(2);
      expect(badCatalog.stderr).toMatch(/catalog\.yaml:4:\d+: images\.0\.format: /);
      expect(badCatalog.stderr).not.toMatch(/\n\s+at /);
    }));

  it("exits 2 on a bad --policy file or --preset, and `registry presets` lists every preset", () =>
    inTempDir("pullstorm-policy-", async (dir) => {
      const file = fileIn(dir, "policy.yaml", "misleading:\n  aboveRps: 10\n  status: 500\n");
      const [res, presets, badPreset] = await Promise.all([
        pullstorm(["registry", "serve", "--port", "0", "--policy", file]),
        pullstorm(["registry", "presets"]),
        pullstorm(["registry", "serve", "--preset", "nope"]),
      ]);
      expect(res.status).toBe(2);
      expect(res.stderr).toMatch(/policy\.yaml:3:\d+: misleading\.status: /);
      expect(presets.status).toBe(0);
      for (const name of [
        "dockerhub-2020",
        "dockerhub-2025-announced",
        "ecr-public",
        "quay",
        "ghcr",
        "artifact-registry",
        "registry-k8s-io",
        "unlimited",
      ]) {
        expect(presets.stdout).toContain(`${name}: `);
      }
      expect(presets.stdout).toContain("anonymous 100 / 6h rolling");
      expect(presets.stdout).toContain("source: ");
      expect(badPreset.status).toBe(2);
      expect(badPreset.stderr).toContain("Allowed choices are dockerhub-2020");
    }));
});
