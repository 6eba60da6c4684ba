import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { Catalog } from "../fake-registry/catalog/catalog.ts";
import { loadCatalogFile } from "../fake-registry/catalog/file.ts";

const root = join(import.meta.dirname, "..");

describe("project files", () => {
  it("the example catalog loads and its images resolve", async () => {
    const file = loadCatalogFile(join(root, "scenarios", "example-catalog.yaml"));
    const catalog = new Catalog({ seed: 1, images: file.images, defaults: file.defaults });
    expect(await catalog.resolveTag("myorg/web", "2.3.1", 0)).toBeDefined();
    expect(catalog.spec("myorg/worker")?.layerSize).toBe(1024 * 1024);
    expect(catalog.spec("acme/private")?.users).toEqual(["alice"]);
  });

  it("docker-compose.yml puts the mirror in front of the registry service", () => {
    const compose = parse(readFileSync(join(root, "docker-compose.yml"), "utf8"));
    const command: string[] = compose.services.registry.command;
    const port = command[command.indexOf("--port") + 1];
    expect(compose.services.mirror.environment.REGISTRY_PROXY_REMOTEURL).toBe(
      `http://127.0.0.1:${port}`,
    );
    expect(compose.services.mirror.network_mode).toBe("service:registry");
    expect(command.slice(0, 2)).toEqual(["registry", "serve"]);
  });

  it("engines matches the Node that npm scripts run on", () => {
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
    const major = Number(process.versions.node.split(".")[0]);
    expect(major).toBeGreaterThanOrEqual(22);
    expect(pkg.engines.node).toContain(">=24");
    expect(pkg.devDependencies.node.split(".")[0]).toBe(String(major));
  });
});
