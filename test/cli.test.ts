// The CLI as a user runs it: `pullstorm registry serve` prints its URL when ready,
// serves, and stops cleanly on SIGINT/SIGTERM; bad input exits 2 with a clear message.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { httpRequest } from "./helpers/http.ts";
import { runCommand, startProcess, waitFor } from "./helpers/processes.ts";

const BIN = join(import.meta.dirname, "..", "bin", "pullstorm.js");

async function serve(args: string[]) {
  const proc = startProcess(process.execPath, [BIN, "registry", "serve", "--port", "0", ...args]);
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

  it("exits 2 with a clear message on bad flags and bad catalog files", async () => {
    const badUser = await runCommand(process.execPath, [
      BIN,
      "registry",
      "serve",
      "--user",
      "nopassword",
    ]);
    expect(badUser.status).toBe(2);
    expect(badUser.stderr).toContain(
      '--user "nopassword" must be NAME:PASSWORD, NAME:PASSWORD:PLAN or NAME:PASSWORD:PLAN:ORG',
    );
    const badPort = await runCommand(process.execPath, [
      BIN,
      "registry",
      "serve",
      "--port",
      "70000",
    ]);
    expect(badPort.status).toBe(2);
    expect(badPort.stderr).toContain("--port must be a whole number from 0 to 65535");
    const dir = mkdtempSync(join(tmpdir(), "pullstorm-cli-"));
    try {
      const file = join(dir, "catalog.yaml");
      writeFileSync(file, "images:\n  - name: myorg/web\n    tags: [latest]\n    format: zip\n");
      const badCatalog = await runCommand(process.execPath, [
        BIN,
        "registry",
        "serve",
        "--port",
        "0",
        "--catalog",
        file,
      ]);
      expect(badCatalog.status).toBe(2);
      expect(badCatalog.stderr).toMatch(/catalog\.yaml:4:\d+: images\.0\.format: /);
      expect(badCatalog.stderr).not.toMatch(/\n\s+at /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
