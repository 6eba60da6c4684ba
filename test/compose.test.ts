// docker-compose.yml's structure, with the defaults a user gets (test/real/compose-stack.test.ts
// runs it on a real engine): the services exist and point at each other, every flag it
// passes is one the CLI knows, the scenario it runs parses, and nothing listens beyond
// loopback on the host.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { z } from "zod";
import { loadScenario } from "../simulator/scenario/load.ts";
import { runCommand } from "./helpers/processes.ts";

const root = join(import.meta.dirname, "..");
const BIN = join(root, "bin", "pullstorm.js");

const service = z
  .object({
    image: z.string().optional(),
    build: z
      .object({ context: z.string(), args: z.record(z.string(), z.string()) })
      .strict()
      .optional(),
    network_mode: z.string().optional(),
    command: z.array(z.string()).optional(),
    environment: z.record(z.string(), z.string()).optional(),
    ports: z.array(z.string()).optional(),
    volumes: z.array(z.string()).optional(),
    depends_on: z
      .record(
        z.string(),
        z.object({ condition: z.enum(["service_started", "service_healthy"]) }).strict(),
      )
      .optional(),
    healthcheck: z
      .object({
        test: z.array(z.string()),
        interval: z.string(),
        timeout: z.string(),
        retries: z.number().int(),
      })
      .strict()
      .optional(),
  })
  .strict()
  .refine((s) => s.image || s.build, "a service needs an image or a build");
/** `${VAR:-default}` as compose reads it with VAR unset: the default a user gets. */
function withDefaults(value: unknown): unknown {
  if (typeof value === "string") return value.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, "$1");
  if (Array.isArray(value)) return value.map(withDefaults);
  if (value && typeof value === "object")
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withDefaults(v)]));
  return value;
}
const text = readFileSync(join(root, "docker-compose.yml"), "utf8");
// Debian's docker-compose 1.29 refuses a top-level `name`: the project is named by -p.
const compose = z
  .object({ services: z.record(z.string(), service) })
  .strict()
  .parse(withDefaults(parse(text)));
const services = compose.services;

function flagValue(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}
async function helpOf(...command: string[]): Promise<string> {
  const r = await runCommand(join(root, "node_modules", ".bin", "node"), [
    BIN,
    ...command,
    "--help",
  ]);
  expect(r.status).toBe(0);
  return r.stdout;
}
const flagsOf = (args: string[]) => args.filter((a) => a.startsWith("--"));

describe("docker-compose.yml", () => {
  it("has the fake registry, a registry:2 mirror, Redis and a runner", () => {
    expect(Object.keys(services).sort()).toEqual(["mirror", "redis", "registry", "runner"]);
    expect(services.mirror?.image).toBe("registry:2");
    expect(services.redis?.image).toMatch(/^redis:/);
    expect(services.registry?.build).toEqual({ context: ".", args: { BASE: "node:24-slim" } });
    expect(services.runner?.image).toBe(services.registry?.image);
  });

  it("every image can be swapped by a variable (CI builds its own from Debian packages)", () => {
    for (const variable of [
      "PULLSTORM_REDIS_IMAGE",
      "PULLSTORM_IMAGE",
      "PULLSTORM_NODE_IMAGE",
      "PULLSTORM_MIRROR_IMAGE",
      "PULLSTORM_RESULTS",
    ])
      expect(text).toContain(`\${${variable}:-`);
    const raw = parse(text) as { services: Record<string, { image?: string }> };
    for (const [name, s] of Object.entries(raw.services))
      expect(s.image, name).toMatch(/^\$\{PULLSTORM_([A-Z]+_)?IMAGE:-[^}]+\}$/);
  });

  it("every dependency names a service, and health-gated ones have a healthcheck", () => {
    for (const [name, s] of Object.entries(services))
      for (const [dep, how] of Object.entries(s.depends_on ?? {})) {
        expect(services[dep], `${name} depends on ${dep}`).toBeDefined();
        if (how.condition === "service_healthy")
          expect(services[dep]?.healthcheck, `${dep} needs a healthcheck`).toBeDefined();
      }
  });

  it("publishes ports on the host's loopback only", () => {
    for (const s of Object.values(services))
      for (const p of s.ports ?? []) expect(p).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
  });

  it("the registry serves on its port with quotas in the redis service, with flags the CLI knows", async () => {
    const args = services.registry?.command ?? [];
    expect(args.slice(0, 2)).toEqual(["registry", "serve"]);
    const help = await helpOf("registry", "serve");
    for (const flag of flagsOf(args)) expect(help, flag).toContain(flag);
    expect(flagValue(args, "--host")).toBe("0.0.0.0");
    const store = new URL(flagValue(args, "--store") ?? "");
    expect(store.protocol).toBe("redis:");
    expect(services[store.hostname]?.image).toMatch(/^redis:/);
    expect(services.registry?.ports).toContain(`127.0.0.1:5000:${flagValue(args, "--port")}`);
  });

  it("the mirror and the runner live in the registry's network namespace: every client on loopback", () => {
    expect(services.mirror?.network_mode).toBe("service:registry");
    expect(services.runner?.network_mode).toBe("service:registry");
    const remote = new URL(services.mirror?.environment?.REGISTRY_PROXY_REMOTEURL ?? "");
    expect(remote.hostname).toBe("127.0.0.1");
    expect(remote.port).toBe(flagValue(services.registry?.command ?? [], "--port"));
    // The mirror's port is published by the service whose namespace it shares.
    const mirrorPort = services.mirror?.environment?.REGISTRY_HTTP_ADDR?.split(":").at(-1);
    expect(services.registry?.ports).toContain(`127.0.0.1:5001:${mirrorPort}`);
    // The registry and the runner count time alike.
    expect(flagValue(services.runner?.command ?? [], "--time-scale")).toBe(
      flagValue(services.registry?.command ?? [], "--time-scale"),
    );
  });

  it("the runner plays a scenario that parses, against the registry, with one design through the mirror", async () => {
    const args = services.runner?.command ?? [];
    expect(args[0]).toBe("run");
    const help = await helpOf("run");
    for (const flag of flagsOf(args)) expect(help, flag).toContain(flag);
    const file = join(root, args[1] ?? "");
    expect(existsSync(file)).toBe(true);
    const scenario = loadScenario(file);
    const target = new URL(flagValue(args, "--target") ?? "");
    // Loopback in the registry's namespace: no --allow-remote, source addresses work.
    expect(target.hostname).toBe("127.0.0.1");
    expect(args).not.toContain("--allow-remote");
    const mirrored = scenario.designs.filter((d) => d.mirror?.enabled);
    expect(mirrored.map((d) => d.mirror?.backend)).toEqual(["external"]);
    const url = new URL(mirrored[0]?.mirror?.url ?? "");
    expect(url.hostname).toBe("127.0.0.1");
    expect(url.port).toBe(services.mirror?.environment?.REGISTRY_HTTP_ADDR?.split(":").at(-1));
    // The CI jobs run dockerd: the mirror is configured there.
    expect(mirrored[0]?.mirror?.configuredFor).toBe("dockerd");
    // Reports land in the volume mounted from the host.
    const out = flagValue(args, "--out") ?? "";
    expect(
      services.runner?.volumes?.some((v) => `/app/${out}`.startsWith(v.split(":")[1] ?? "-")),
    ).toBe(true);
  });

  it("the image it builds runs the CLI from the packed package and the files compose refers to", () => {
    const dockerfile = readFileSync(join(root, "Dockerfile"), "utf8");
    expect(dockerfile).toMatch(/^ARG BASE=node:24-slim$/m);
    expect(dockerfile).toMatch(/^FROM \$\{BASE\} AS pack$/m);
    // The package as `npm pack` makes it (prepack builds dist/), installed in the last stage
    // with the lock's production dependencies; not the source tree.
    expect(dockerfile).toMatch(/^RUN npm ci .*\n.*^RUN mkdir -p \/pack && npm pack /ms);
    expect(dockerfile).toMatch(/^COPY --from=pack \S+\.tgz /m);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    const lastStage = dockerfile.slice(dockerfile.lastIndexOf("\nFROM "));
    for (const dir of ["bin", "cli", "fake-registry", "simulator", "reports", "index.ts"])
      expect(lastStage).not.toMatch(new RegExp(`^COPY ${dir}\\b`, "m"));
    // What the services run must be in the image: the runner's scenario, the package's bin.
    const copied = [...lastStage.matchAll(/^COPY (\S+) /gm)].map((m) => m[1]);
    const scenarioFile = services.runner?.command?.[1] ?? "";
    expect(copied.some((c) => c && scenarioFile.startsWith(c))).toBe(true);
    expect(dockerfile).toContain('ENTRYPOINT ["node", "bin/pullstorm.js"]');
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
    expect(pkg.bin.pullstorm).toBe("bin/pullstorm.js");
    expect(pkg.files).toEqual(expect.arrayContaining(["bin", "dist"]));
    expect(dockerfile).toMatch(/^WORKDIR \/app$/m);
    const ignored = readFileSync(join(root, ".dockerignore"), "utf8").split("\n");
    expect(ignored).toEqual(expect.arrayContaining(["node_modules", "dist"]));
  });
});
