// check-mirror without real runtimes: parsing node configurations with their
// errors (file + field), what each runtime makes of them (the plan), the
// loopback copy (never a non-loopback name in it), the stand-ins, the
// verdicts and findings, the renderers, and whole checks driven by the models.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { analyzeCheck, type ImageRun, tally } from "../check-mirror/analyze.ts";
import { CheckUsageError, checkMirror, prepareCheck } from "../check-mirror/check.ts";
import { loadContainerdConfig } from "../check-mirror/config/containerd-config.ts";
import { loadDaemonJson } from "../check-mirror/config/daemon-json.ts";
import { loadHostsDir, namespaceFor } from "../check-mirror/config/hosts-dir.ts";
import {
  loadRegistriesConf,
  mirrorsFor,
  prefixMatches,
  registryFor,
} from "../check-mirror/config/registries-conf.ts";
import {
  hostDirectoryName,
  isLoopbackHost,
  parseEndpoint,
  registryOfHost,
} from "../check-mirror/endpoints.ts";
import { emptyConfig, type NodeConfig, planImages } from "../check-mirror/plan.ts";
import {
  renderCheckJunit,
  renderCheckMarkdown,
  renderCheckTerminal,
} from "../check-mirror/render.ts";
import {
  MirrorStandIn,
  Recorder,
  type RequestRecord,
  rewritePath,
  serveRegistryStandIn,
} from "../check-mirror/stand-ins.ts";
import {
  loopbackViolations,
  type StandInMap,
  translateHostsDir,
  translateRegistriesConf,
} from "../check-mirror/translate.ts";
import type { CheckMirrorReport } from "../check-mirror/types.ts";
import { createRegistry } from "../fake-registry/index.ts";
import { ConfigError } from "../vocabulary/config/yaml-file.ts";
import { type ImageReference, parseImageReference } from "../vocabulary/oci/reference.ts";
import {
  CRI_WITHOUT_CONFIG_PATH,
  expectCriReadsNothing,
  FIXTURES,
  fixture,
  readCheckJunit,
} from "./helpers/check-mirror.ts";
import { runCommand } from "./helpers/processes.ts";

const BIN = join(import.meta.dirname, "..", "bin", "pullstorm.js");

function ref(text: string): ImageReference {
  const r = parseImageReference(text);
  if ("error" in r) throw new Error(r.error);
  return r;
}

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "pullstorm-check-mirror-unit-"));
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function writeTree(name: string, files: Record<string, string>): string {
  const root = join(work, name);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(join(root, rel, ".."), { recursive: true });
    writeFileSync(join(root, rel), text);
  }
  mkdirSync(root, { recursive: true });
  return root;
}

describe("image references", () => {
  it("normalise the way docker, containerd and Kubernetes do", () => {
    const d = `sha256:${"a".repeat(64)}`;
    const hub = (repository: string) => ({ registry: "docker.io", repository });
    for (const [text, expected] of [
      ["nginx", { ...hub("library/nginx"), tag: "latest" }],
      ["nginx:1.25", { ...hub("library/nginx"), tag: "1.25" }],
      ["docker.io/nginx:1.25", { ...hub("library/nginx"), tag: "1.25" }],
      ["index.docker.io/library/nginx:1.25", { ...hub("library/nginx"), tag: "1.25" }],
      ["myorg/api", { ...hub("myorg/api"), tag: "latest" }],
      ["quay.io/org/app:2", { registry: "quay.io", repository: "org/app", tag: "2" }],
      ["localhost:5000/app", { registry: "localhost:5000", repository: "app", tag: "latest" }],
      [`nginx@${d}`, { ...hub("library/nginx"), digest: d }],
      [`nginx:1.25@${d}`, { ...hub("library/nginx"), tag: "1.25", digest: d }],
    ] as Array<[string, ImageReference]>)
      expect(ref(text), text).toEqual(expected);
  });

  it("refuse what no runtime would pull, saying why", () => {
    const error = (t: string) => {
      const r = parseImageReference(t);
      return "error" in r ? r.error : "";
    };
    expect(error("")).toMatch(/empty/);
    expect(error("Nginx:1.25")).toMatch(/"Nginx" is not a valid repository name/);
    expect(error("nginx@sha256:123")).toMatch(/digest must be sha256/);
    expect(error("docker://nginx")).toMatch(/without a scheme/);
    expect(error("nginx:-bad")).toMatch(/not a valid tag/);
  });
});

describe("endpoints", () => {
  it("parse hosts.toml-style hosts and URLs, https by default", () => {
    for (const [raw, expected] of [
      ["mirror.corp:5000", { scheme: "https", host: "mirror.corp:5000", path: "" }],
      [
        "http://Mirror.Corp:5000/v2/dockerhub/",
        { scheme: "http", host: "mirror.corp:5000", path: "/v2/dockerhub" },
      ],
      ["https://mirror.corp:443", { scheme: "https", host: "mirror.corp", path: "" }],
    ] as const)
      expect(parseEndpoint(raw), raw).toEqual({ raw, ...expected });
    expect(parseEndpoint("ftp://x")).toHaveProperty("error");
    expect(parseEndpoint("https://u:p@x")).toHaveProperty("error");
  });

  it("know Docker Hub's names, containerd's directory names and loopback", () => {
    for (const h of [
      "docker.io",
      "registry-1.docker.io",
      "index.docker.io",
      "registry-1.docker.io:443",
    ])
      expect(registryOfHost(h)).toBe("docker.io");
    expect(registryOfHost("mirror.corp:5000")).toBe("mirror.corp:5000");
    expect(hostDirectoryName("myreg:5000")).toBe("myreg_5000_");
    expect(hostDirectoryName("docker.io")).toBe("docker.io");
    expect(isLoopbackHost("127.0.0.1:5000")).toBe(true);
    expect(isLoopbackHost("127.1.2.3")).toBe(true);
    expect(isLoopbackHost("[::1]:5000")).toBe(true);
    for (const h of [
      "10.0.0.1:5000",
      "mirror.corp:5000",
      "localhost",
      "127.0.0.1.nip.io",
      "1270.0.0.1",
    ])
      expect(isLoopbackHost(h)).toBe(false);
  });
});

describe("containerd hosts directory", () => {
  it("reads [host] entries in file order, server and capabilities", () => {
    const config = loadHostsDir(fixture("certs.d-good"));
    const ns = namespaceFor(config, "docker.io");
    expect(ns?.dir).toBe("docker.io");
    expect(ns?.server?.host).toBe("registry-1.docker.io");
    expect(ns?.hosts.map((h) => [h.endpoint.host, h.capabilities])).toEqual([
      ["mirror.corp:5000", ["pull", "resolve"]],
    ]);
    expect(ns?.noHostTables).toBe(false);
  });

  it("refuses what containerd refuses, naming file and field", () => {
    const dir = fixture("certs.d-bad-capabilities");
    expect(problems(() => loadHostsDir(dir))).toEqual([
      `${dir}/docker.io/hosts.toml: host."https://mirror.corp:5000".capabilities: expected a list of "pull"|"resolve"|"push", got a list ("pull", "fetch")`,
    ]);
    const broken = writeTree("broken", {
      "docker.io/hosts.toml": 'server = "https://registry-1.docker.io"\n[host."https://m:5000"\n',
      "quay.io/hosts.toml": 'server = 5\nskip_verify = "yes"\n[host."ftp://m"]\n',
    });
    const found = problems(() => loadHostsDir(broken));
    expect(found[0]).toMatch(new RegExp(`^${broken}/docker\\.io/hosts\\.toml:2:\\d+: `));
    expect(found).toContain(`${broken}/quay.io/hosts.toml: server: expected a URL string, got 5`);
    expect(found).toContain(
      `${broken}/quay.io/hosts.toml: skip_verify: expected true or false, got "yes"`,
    );
    expect(found.some((p) => p.includes('host."ftp://m": "ftp://m": only http and https'))).toBe(
      true,
    );
    expect(problems(() => loadHostsDir(join(work, "missing")))[0]).toMatch(/no such directory/);
  });

  it("marks a hosts.toml without [host] tables (containerd 1.6 cannot decode it) and unknown keys", () => {
    const ns = namespaceFor(loadHostsDir(fixture("certs.d-server-only")), "docker.io");
    expect(ns?.noHostTables).toBe(true);
    expect(ns?.server?.host).toBe("mirror.corp:5000");
    const dir = writeTree("unknown", {
      "docker.io/hosts.toml": '[host."https://m:5000"]\n  endpoint = ["https://m:5000"]\n',
    });
    expect(namespaceFor(loadHostsDir(dir), "docker.io")?.unknownKeys).toEqual([
      'host."https://m:5000".endpoint',
    ]);
  });

  it("looks up host_port_, then host:port, then _default, like containerd", () => {
    const dir = writeTree("lookup", {
      "myreg_5000_/hosts.toml": '[host."https://a"]\n',
      "myreg:5000/hosts.toml": '[host."https://b"]\n',
      "_default/hosts.toml": '[host."https://c"]\n',
    });
    const config = loadHostsDir(dir);
    expect(namespaceFor(config, "myreg:5000")?.dir).toBe("myreg_5000_");
    expect(namespaceFor(config, "docker.io")?.dir).toBe("_default");
    expect(namespaceFor(loadHostsDir(fixture("certs.d-wrong-dir")), "docker.io")).toBeUndefined();
  });
});

describe("daemon.json and registries.conf", () => {
  it("daemon.json: mirrors need a scheme; misspelt keys stop dockerd", () => {
    expect(loadDaemonJson(fixture("daemon.json")).mirrors.map((m) => m.host)).toEqual([
      "mirror.corp:5000",
    ]);
    expect(problems(() => loadDaemonJson(fixture("daemon-no-scheme.json")))[0]).toMatch(
      /registry-mirrors\[0\]: "mirror.corp:5000" has no http:\/\/ or https:\/\/ scheme; dockerd refuses to start/,
    );
    const file = join(work, "misspelt.json");
    writeFileSync(file, '{"registry-mirror": ["https://m"], "registry-mirrors": "https://m"}');
    const found = problems(() => loadDaemonJson(file));
    expect(found).toContain(
      `${file}: registry-mirror: dockerd does not know this key and refuses to start; the key is "registry-mirrors"`,
    );
    expect(found).toContain(`${file}: registry-mirrors: expected a list of URLs, got "https://m"`);
  });

  it("registries.conf: longest prefix wins, pull-from-mirror filters mirrors, errors name the field", () => {
    const config = loadRegistriesConf(fixture("registries.conf"));
    expect(config.registries[0]).toMatchObject({
      prefix: "docker.io",
      location: "registry-1.docker.io",
    });
    expect(config.ignoredKeys).toEqual(["unqualified-search-registries"]);
    expect(prefixMatches("docker.io/library/nginx", "docker.io")).toBe(true);
    expect(prefixMatches("docker.io/library/nginx", "docker.io/library")).toBe(true);
    expect(prefixMatches("docker.io/libraryx/nginx", "docker.io/library")).toBe(false);
    expect(prefixMatches("eu.quay.io/a", "*.quay.io")).toBe(true);
    const file = join(work, "prefixes.conf");
    writeFileSync(
      file,
      '[[registry]]\nprefix = "docker.io"\nlocation = "registry-1.docker.io"\n[[registry]]\nprefix = "docker.io/library"\nlocation = "m.corp/hub"\n',
    );
    expect(registryFor(loadRegistriesConf(file), "docker.io/library/nginx")?.index).toBe(1);
    expect(registryFor(loadRegistriesConf(file), "docker.io/myorg/api")?.index).toBe(0);
    const digestOnly = loadRegistriesConf(fixture("registries-digest-only.conf")).registries[0];
    if (!digestOnly) throw new Error("no registry");
    expect(mirrorsFor(digestOnly, false)).toEqual([]);
    expect(mirrorsFor(digestOnly, true)).toHaveLength(1);
    expect(problems(() => loadRegistriesConf(fixture("registries-scheme.conf")))[0]).toMatch(
      /registry\[0\]\.mirror\[0\]\.location: "https:\/\/mirror.corp:5000": a location is host\[:port\]\[\/namespace\] without a scheme/,
    );
    const mixed = join(work, "mixed.conf");
    writeFileSync(
      mixed,
      '[registries.search]\nregistries = ["docker.io"]\n[[registry]]\nlocation = "x.io"\n',
    );
    expect(problems(() => loadRegistriesConf(mixed))[0]).toMatch(
      /cannot be mixed with \[\[registry\]\]/,
    );
  });

  it("containerd config.toml: config_path for the CRI plugin, version 2 and 3", () => {
    expect(loadContainerdConfig(fixture("containerd-config.toml")).configPath).toBe(
      "/etc/containerd/certs.d",
    );
    expect(
      loadContainerdConfig(fixture("containerd-config-no-path.toml")).configPath,
    ).toBeUndefined();
    const v3 = join(work, "config-v3.toml");
    writeFileSync(
      v3,
      'version = 3\n[plugins."io.containerd.cri.v1.images".registry]\nconfig_path = "/x"\n',
    );
    expect(loadContainerdConfig(v3).configPath).toBe("/x");
  });
});

describe("plans: what each runtime makes of a configuration", () => {
  const nginx = ref("docker.io/library/nginx:1.25");
  const pinned = ref(`docker.io/library/nginx@sha256:${"b".repeat(64)}`);

  it("containerd: a pull-only mirror never resolves tags but serves digests; server last", () => {
    const [tagPlan, digestPlan] = planImages(loadHostsDir(fixture("certs.d-pull-only")), [
      nginx,
      pinned,
    ]);
    expect(tagPlan?.hosts.map((h) => [h.name, h.role, h.resolve, h.pull, h.from])).toEqual([
      ["mirror.corp:5000", "mirror", false, true, 'host."https://mirror.corp:5000"'],
      ["registry-1.docker.io", "upstream", true, true, "server"],
    ]);
    expect(digestPlan?.hosts[0]).toMatchObject({ resolve: true, pull: true });
  });

  it("containerd: without server the registry is still appended; an undecodable file means the registry only", () => {
    const [p] = planImages(loadHostsDir(fixture("certs.d-no-server")), [nginx]);
    expect(p?.hosts.map((h) => [h.name, h.role])).toEqual([
      ["mirror.corp:5000", "mirror"],
      ["docker.io", "upstream"],
    ]);
    const [ignored] = planImages(loadHostsDir(fixture("certs.d-server-only")), [nginx]);
    expect(ignored?.ignoredFile).toMatch(/certs\.d-server-only\/docker\.io\/hosts\.toml$/);
    expect(ignored?.hosts.map((h) => h.role)).toEqual(["upstream"]);
  });

  it("dockerd: registry-mirrors only for Docker Hub images, Hub last", () => {
    const config = loadDaemonJson(fixture("daemon.json"));
    const [hub, quay] = planImages(config, [nginx, ref("quay.io/org/app:1")]);
    expect(hub?.hosts.map((h) => h.role)).toEqual(["mirror", "upstream"]);
    expect(hub?.style).toBe("single-source");
    expect(quay?.hosts.map((h) => h.role)).toEqual(["upstream"]);
  });

  it("containers/image: digest-only mirrors are skipped for tags", () => {
    const config = loadRegistriesConf(fixture("registries-digest-only.conf"));
    const [tag, digest] = planImages(config, [nginx, pinned]);
    expect(tag?.hosts.map((h) => [h.role, h.pull])).toEqual([
      ["mirror", false],
      ["upstream", true],
    ]);
    expect(digest?.hosts[0]?.pull).toBe(true);
  });
});

describe("the loopback copy", () => {
  let port = 20000;
  const map = (): StandInMap => {
    const seen = new Map<string, string>();
    const next = (k: string) => {
      if (!seen.has(k)) seen.set(k, `127.0.0.1:${port++}`);
      return seen.get(k) as string;
    };
    return { upstream: (r) => next(`u:${r}`), mirror: (h) => next(`m:${h}`) };
  };

  it("renames the registry's directory to its stand-in, keeps host order, drops TLS files", () => {
    const dir = writeTree("tls", {
      "docker.io/hosts.toml": [
        'server = "https://registry-1.docker.io"',
        'ca = "/etc/certs/ca.pem"',
        '[host."https://b.corp:5000/v2/hub"]',
        '  capabilities = ["pull", "resolve"]',
        "  override_path = true",
        '  ca = "b.pem"',
        '[host."https://a.corp"]',
        '  capabilities = ["pull"]',
        '  [host."https://a.corp".header]',
        '    authorization = "Basic c2VjcmV0"',
      ].join("\n"),
    });
    const config = loadHostsDir(dir);
    const m = map();
    const plans = planImages(config, [ref("nginx:1.25")]);
    const t = translateHostsDir(config, plans, m, join(work, "out-tls"));
    const up = m.upstream("docker.io");
    expect(Object.keys(t.files)).toEqual([`${up}/hosts.toml`]);
    const text = t.files[`${up}/hosts.toml`] as string;
    expect(text).not.toMatch(/ca =|corp|docker\.io/);
    const b = m.mirror("b.corp:5000");
    const a = m.mirror("a.corp");
    expect(text.indexOf(`http://${b}/v2/hub`)).toBeLessThan(text.indexOf(`http://${a}`));
    expect(text).toContain(`server = "http://${up}"`);
    expect(t.pulledAs["docker.io/library/nginx:1.25"]).toBe(`${up}/library/nginx:1.25`);
    expect(readdirSync(join(work, "out-tls", "hosts"))).toEqual([up]);
    expect(loopbackViolations(t)).toEqual([]);
  });

  it("never names a host outside 127.0.0.0/8, whatever the fixture and image", () => {
    const images = [
      ref("nginx:1.25"),
      ref("quay.io/org/app:1"),
      ref(`redis@sha256:${"c".repeat(64)}`),
    ];
    const configs: NodeConfig[] = [
      ...readdirSync(FIXTURES)
        .filter((d) => d.startsWith("certs.d-") && d !== "certs.d-bad-capabilities")
        .map((d) => loadHostsDir(fixture(d))),
      ...readdirSync(FIXTURES)
        .filter((f) => f.startsWith("registries") && f !== "registries-scheme.conf")
        .map((f) => loadRegistriesConf(fixture(f))),
    ];
    expect(configs.length).toBeGreaterThanOrEqual(10);
    for (const [i, config] of configs.entries()) {
      const plans = planImages(config, images);
      const t =
        config.kind === "hosts-dir"
          ? translateHostsDir(config, plans, map(), join(work, `all-${i}`))
          : config.kind === "registries-conf"
            ? translateRegistriesConf(config, plans, map(), join(work, `all-${i}`))
            : undefined;
      if (!t) continue;
      expect(loopbackViolations(t), config.path).toEqual([]);
      for (const text of Object.values(t.files))
        expect(text, config.path).not.toMatch(/docker\.io|corp|quay/);
    }
  });

  it("catches a copy that would reach a real name", () => {
    expect(
      loopbackViolations({
        files: {
          "127.0.0.1:1/hosts.toml":
            'server = "http://127.0.0.1:1"\n[host."https://mirror.corp:5000"]\n',
          "registries.conf":
            '[[registry]]\nprefix = "127.0.0.1:1"\nlocation = "registry-1.docker.io"\n',
          "docker.io/.keep": "",
        },
        pulledAs: { a: "docker.io/library/nginx:1.25" },
        notes: [],
      }),
    ).toEqual([
      "image a: docker.io/library/nginx:1.25",
      "127.0.0.1:1/hosts.toml: host: https://mirror.corp:5000",
      "registries.conf: registry[0].location: registry-1.docker.io",
      "docker.io/.keep (directory): docker.io",
    ]);
  });

  it("registries.conf: the matching entry with stand-ins as prefix and locations, plain HTTP", () => {
    const config = loadRegistriesConf(fixture("registries-digest-only.conf"));
    const m = map();
    const t = translateRegistriesConf(
      config,
      planImages(config, [ref("nginx:1.25")]),
      m,
      join(work, "rc"),
    );
    const up = m.upstream("docker.io");
    expect(t.files["registries.conf"]).toBe(
      [
        "[[registry]]",
        `prefix = "${up}"`,
        `location = "${up}"`,
        "insecure = true",
        "",
        "[[registry.mirror]]",
        `location = "${m.mirror("mirror.corp:5000")}"`,
        "insecure = true",
        'pull-from-mirror = "digest-only"',
        "",
      ].join("\n"),
    );
  });
});

describe("stand-ins", () => {
  const registry = createRegistry({ seed: 1, defaults: { layers: 2, layerSize: 4096 } });
  const recorder = new Recorder();
  let upstream: Awaited<ReturnType<typeof serveRegistryStandIn>>;
  let mirror: MirrorStandIn;

  beforeAll(async () => {
    upstream = await serveRegistryStandIn(registry, recorder, {
      at: "upstream",
      name: "docker.io",
    });
    // The mirror stand-in forwards to the registry stand-in here (no real mirror needed).
    mirror = new MirrorStandIn({
      name: "mirror.corp:5000",
      recorder,
      state: "up",
      serves: "all",
      backend: upstream.url,
    });
    await mirror.listen();
  });
  afterAll(async () => {
    await mirror?.close();
    await upstream?.close();
  });

  it("record the host, kind, reference and ns of every request, and what the policy counts", async () => {
    recorder.phase = "pull";
    recorder.image = "x";
    const res = await fetch(`${mirror.url}/v2/library/nginx/manifests/1.25?ns=docker.io`, {
      method: "HEAD",
    });
    expect(res.status).toBe(401);
    const rec = recorder.records.filter((r) => r.at === "mirror");
    expect(rec.at(-1)).toMatchObject({
      host: "mirror.corp:5000",
      method: "HEAD",
      kind: "manifest",
      reference: "tag",
      ns: "docker.io",
      status: 401,
    });
    const up = recorder.records.filter((r) => r.at === "upstream");
    expect(up.at(-1)).toMatchObject({
      host: "docker.io",
      kind: "manifest",
      status: 401,
      counted: false,
    });
  });

  it("answer 404 to tags when the mirror serves digests only, and cut connections when stopped", async () => {
    mirror.serves = "digests";
    const res = await fetch(`${mirror.url}/v2/library/nginx/manifests/1.25`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { errors: Array<{ code: string }> }).errors[0]?.code).toBe(
      "MANIFEST_UNKNOWN",
    );
    mirror.serves = "all";
    mirror.state = "stopped";
    await expect(fetch(`${mirror.url}/v2/`)).rejects.toThrow();
    expect(recorder.records.at(-1)).toMatchObject({ at: "mirror", status: "unreachable" });
    mirror.state = "up";
  });

  it("map a configured path prefix onto the API root", () => {
    const rw = [
      { from: "/v2/dockerhub", to: "/v2" },
      { from: "/v2/dockerhub/library", to: "/v2/x" },
    ];
    expect(rewritePath("/v2/dockerhub/library/nginx/manifests/1", rw)).toBe(
      "/v2/x/nginx/manifests/1",
    );
    expect(rewritePath("/v2/dockerhub/myorg/api/blobs/sha256:1", rw)).toBe(
      "/v2/myorg/api/blobs/sha256:1",
    );
    expect(rewritePath("/v2/other/x", rw)).toBe("/v2/other/x");
  });
});

function record(partial: Partial<RequestRecord>): RequestRecord {
  return {
    phase: "pull",
    image: "docker.io/library/nginx:1.25",
    at: "upstream",
    host: "docker.io",
    method: "GET",
    path: "/v2/library/nginx/manifests/1.25",
    kind: "manifest",
    reference: "tag",
    status: 200,
    counted: true,
    ...partial,
  };
}

describe("verdicts and findings", () => {
  it("tallies by what was asked; a 401 challenge is not a failure", () => {
    const t = tally([
      record({ status: 401, counted: false, method: "HEAD" }),
      record({ kind: "token", reference: undefined, counted: false }),
      record({ reference: "digest" }),
      record({ kind: "blob", reference: undefined, counted: false, status: "unreachable" }),
    ]);
    expect(t).toMatchObject({
      requests: 4,
      manifestsByTag: 1,
      manifestsByDigest: 1,
      blobs: 1,
      tokens: 1,
      failed: 1,
      counted: 1,
    });
  });

  const image = ref("docker.io/library/nginx:1.25");
  const run = (config: NodeConfig, pull: Partial<ImageRun["pull"]> = {}): ImageRun => {
    const [plan] = planImages(config, [image]);
    if (!plan) throw new Error("no plan");
    return {
      plan,
      pulledAs: "127.0.0.1:1/library/nginx:1.25",
      pull: { ok: true, exitCode: 0, log: [], seconds: 1, ...pull },
      fallback: { skipped: "no mirror served this image: there is nothing to fall back from" },
    };
  };

  /** What a real ctr pull of the image with `config` that left `records` comes to. */
  const judge = (config: NodeConfig, records: RequestRecord[], readByRuntime = true) =>
    analyzeCheck({
      runtime: "containerd",
      config,
      readByRuntime,
      // What containerd pulls with: the configuration if it reads it, else its own empty one.
      runs: [run(readByRuntime ? config : emptyConfig("hosts-dir"))],
      records,
      driver: { kind: "real", program: "ctr" },
      mirror: { backend: "process", serves: "all" },
      names: {},
    });

  it("daemon.json on containerd nodes: all upstream, exit 1, the fix is a hosts.toml with config_path", () => {
    const a = judge(
      loadDaemonJson(fixture("daemon.json")),
      [
        record({ method: "HEAD", counted: false }),
        record({ kind: "blob", reference: undefined, counted: false }),
      ],
      false,
    );
    expect(a.exitCode).toBe(1);
    expect(a.images[0]?.pull.verdict).toBe("upstream");
    const f = a.findings.find((x) => x.id === "config-for-other-runtime");
    expect(f?.severity).toBe("critical");
    expect(f?.fix).toContain('[host."https://mirror.corp:5000"]');
    expect(f?.fix).toContain('config_path = "/etc/containerd/certs.d"');
    // The runtime mismatch is the cause: not reported twice.
    expect(a.findings.map((x) => x.id)).not.toContain("mirror-never-reached");
  });

  it("pull-only capabilities: mirror and registry, tags resolved upstream with HEAD", () => {
    const atMirror = { at: "mirror", host: "mirror.corp:5000", counted: false } as const;
    const a = judge(loadHostsDir(fixture("certs.d-pull-only")), [
      record({ method: "HEAD", status: 401, counted: false }),
      record({ method: "HEAD", counted: false }),
      record({ ...atMirror, reference: "digest" }),
      record({ ...atMirror, kind: "blob", reference: undefined }),
    ]);
    expect(a.images[0]?.pull.verdict).toBe("both");
    expect(a.exitCode).toBe(1);
    const f = a.findings.find((x) => x.id === "tags-resolved-upstream");
    expect(f?.detail).toContain("2 HEAD");
    expect(f?.detail).toContain("Docker Hub does not count");
    expect(f?.fix).toContain('capabilities = ["pull", "resolve"]');
  });

  for (const [what, dir, detail, fix] of [
    [
      "wrong directory name: never reached, and the fix renames the directory",
      "certs.d-wrong-dir",
      "not the endpoint registry-1.docker.io",
      (path) => `mv ${path}/registry-1.docker.io ${path}/docker.io`,
    ],
    [
      "a misnamed host.toml: never reached, and the fix renames the file",
      "certs.d-misnamed",
      "has host.toml but no hosts.toml",
      (path) => `mv ${path}/docker.io/host.toml ${path}/docker.io/hosts.toml`,
    ],
  ] as Array<[string, string, string, (path: string) => string]>)
    it(what, () => {
      const config = loadHostsDir(fixture(dir));
      const f = judge(config, [record({})]).findings.find((x) => x.id === "mirror-never-reached");
      expect(f?.detail).toContain(detail);
      expect(f?.fix).toBe(fix(config.path));
    });
});

describe("whole checks with the models (no real runtime needed)", () => {
  const reports: Record<string, CheckMirrorReport> = {};
  const run = async (name: string, options: Parameters<typeof checkMirror>[0]) => {
    reports[name] = await checkMirror({
      mirrorBackend: "model",
      driver: "model",
      pullTimeoutMs: 10_000,
      ...options,
    });
    return reports[name] as CheckMirrorReport;
  };

  it("containerd, good hosts.toml: through the mirror, exit 0; mirror down: silent fallback", async () => {
    const r = await run("good", { runtime: "containerd", hostsDir: fixture("certs.d-good") });
    expect(r.exitCode).toBe(0);
    expect(r.driver.kind).toBe("model");
    expect(r.mirror.backend).toBe("model");
    const i = r.images[0];
    expect(i?.pull.verdict).toBe("mirror");
    expect(i?.pull.upstream.requests).toBe(0);
    expect(i?.pull.mirror.manifestsByTag).toBeGreaterThanOrEqual(1);
    expect(
      r.requests
        .filter((q) => q.at === "mirror" && q.phase === "pull")
        .every((q) => q.ns === i?.pulledAs.split("/")[0]),
    ).toBe(true);
    expect(i?.fallback).toMatchObject({ outcome: "fell-back-upstream", silent: true });
    expect(r.findings.map((f) => f.id)).toEqual(
      expect.arrayContaining(["silent-fallback", "model-verdict", "mirror-model"]),
    );
    for (const s of r.standIns) expect(isLoopbackHost(new URL(s.url).host)).toBe(true);
  });

  it("dockerd, daemon.json: the dockerd model pulls through the mirror; a quay.io image goes upstream", async () => {
    const r = await run("dockerd", {
      runtime: "dockerd",
      daemonJson: fixture("daemon.json"),
      images: ["nginx:1.25", "quay.io/org/app:3"],
    });
    expect(r.images.map((i) => i.pull.verdict)).toEqual(["mirror", "upstream"]);
    expect(r.exitCode).toBe(1);
    expect(r.findings.find((f) => f.id === "mirror-never-reached")?.detail).toMatch(
      /Docker Hub images only/,
    );
    expect(r.driver.reason).toMatch(/does not run dockerd/);
  });

  it("containerd's config.toml: with config_path the hosts directory counts, without it the CRI plugin reads nothing", async () => {
    const withPath = await run("cri-ok", {
      runtime: "containerd",
      hostsDir: fixture("certs.d-good"),
      containerdConfig: fixture("containerd-config.toml"),
      fallback: false,
    });
    expect(withPath.exitCode).toBe(0);
    expect(withPath.findings.map((f) => f.id)).not.toContain("config-path-unchecked");
    const without = await run("cri-missing", CRI_WITHOUT_CONFIG_PATH);
    expectCriReadsNothing(without);
    // The cause is config_path, not the directory: not reported a second time.
    expect(without.findings.map((f) => f.id)).not.toContain("mirror-never-reached");
  });

  it("cri-o, a mirror under a namespace: the containers/image model asks under /v2/dockerhub, through the mirror", async () => {
    const file = join(work, "namespaced.conf");
    writeFileSync(
      file,
      '[[registry]]\nprefix = "docker.io"\nlocation = "registry-1.docker.io"\n\n[[registry.mirror]]\nlocation = "mirror.corp:5000/dockerhub"\n',
    );
    const r = await run("namespaced", { runtime: "cri-o", registriesConf: file, fallback: false });
    expect(r.driver.program).toBe("containers/image (model)");
    expect(r.exitCode).toBe(0);
    expect(r.images[0]?.pull).toMatchObject({ ok: true, verdict: "mirror" });
    const content = r.requests.filter(
      (q) => q.at === "mirror" && (q.kind === "manifest" || q.kind === "blob"),
    );
    expect(content.length).toBeGreaterThanOrEqual(3);
    expect(content.every((q) => q.path.startsWith("/v2/dockerhub/library/nginx/"))).toBe(true);
  });

  it("renders terminal text, Markdown and JUnit (one testcase per image and finding)", () => {
    const r = reports.dockerd as CheckMirrorReport;
    const text = renderCheckTerminal(r, { color: false });
    expect(text).toContain("docker.io/library/nginx:1.25  THROUGH THE MIRROR");
    expect(text).toContain("quay.io/org/app:3  STRAIGHT TO THE REGISTRY");
    expect(text).toContain("verdict: the configuration leaves pulls going to the registry");
    const md = renderCheckMarkdown(r);
    expect(md).toContain("| `quay.io/org/app:3` | upstream |");
    expect(md).toContain("## Findings");
    const junit = readCheckJunit(renderCheckJunit(r));
    expect(junit.cases).toHaveLength(r.images.length + r.findings.length);
    const failures = junit.cases.filter((c) => c.failure !== undefined).length;
    expect(junit.failures).toBe(failures);
    expect(failures).toBe(1 + r.findings.filter((f) => f.severity === "critical").length);
  });
});

describe("bad input", () => {
  it("is refused before anything starts, with the flag or file and field", () => {
    expect(() => prepareCheck({ runtime: "podman", hostsDir: "x" })).toThrow(CheckUsageError);
    // `docker` is accepted for dockerd; the data says dockerd.
    expect(prepareCheck({ runtime: "docker", daemonJson: fixture("daemon.json") }).runtime).toBe(
      "dockerd",
    );
    expect(() => prepareCheck({ runtime: "containerd" })).toThrow(/exactly one node configuration/);
    expect(() =>
      prepareCheck({
        runtime: "cri-o",
        registriesConf: fixture("registries.conf"),
        containerdConfig: "x",
      }),
    ).toThrow(/--containerd-config: only with --runtime containerd/);
    expect(() =>
      prepareCheck({ runtime: "containerd", hostsDir: fixture("certs.d-good"), images: ["UPPER"] }),
    ).toThrow(/--image/);
    expect(() =>
      prepareCheck({
        runtime: "containerd",
        hostsDir: fixture("certs.d-good"),
        mirrors: ["ftp://x"],
      }),
    ).toThrow(/--mirror/);
  });

  for (const [args, message] of [
    [
      ["--runtime", "containerd", "--hosts-dir", fixture("certs.d-bad-capabilities")],
      /capabilities: expected a list of "pull"\|"resolve"\|"push"/,
    ],
    [
      ["--runtime", "docker", "--daemon-json", fixture("daemon-no-scheme.json")],
      /registry-mirrors\[0\]/,
    ],
    [
      ["--runtime", "cri-o", "--registries-conf", fixture("registries-scheme.conf")],
      /mirror\[0\]\.location/,
    ],
    [["--runtime", "containerd"], /exactly one node configuration/],
    [
      ["--runtime", "crio", "--hosts-dir", fixture("certs.d-good")],
      /Allowed choices are containerd, dockerd, cri-o, docker/,
    ],
    [
      ["--runtime", "containerd", "--hosts-dir", fixture("certs.d-good"), "--image", "a@sha256:1"],
      /--image/,
    ],
  ] as Array<[string[], RegExp]>) {
    it(`pullstorm check-mirror ${args.slice(0, 2).join(" ")} ... exits 2: ${message.source.slice(0, 40)}`, async () => {
      const out = join(work, `out-${Math.random().toString(36).slice(2)}`);
      const r = await runCommand(process.execPath, [BIN, "check-mirror", ...args, "--out", out], {
        timeoutMs: 30_000,
      });
      expect(r.status, r.stdout + r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe("");
      // Nothing half-written.
      expect(() => readdirSync(out)).toThrow();
    });
  }
});
