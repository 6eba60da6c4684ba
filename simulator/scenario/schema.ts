import { z } from "zod";
import { catalogFileSchema } from "../../fake-registry/catalog/file.ts";
import { policySchema, presetNameSchema } from "../../fake-registry/policy/file.ts";
import { bandwidthSchema, durationSchema } from "../../vocabulary/config/schemas.ts";
import { parseImageReference } from "../../vocabulary/oci/reference.ts";
import { NETWORK_DEFAULTS } from "../engine/timing.ts";

const duration = durationSchema();

const count = z.number().int().min(0);
const imageName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]*$/, "image names are lower-case words, e.g. web");

const runtimeSchema = z.enum(["containerd", "dockerd", "cri-o"]);

const imageSchema = z
  .object({
    name: imageName,
    ref: z
      .string()
      .superRefine((r, ctx) => {
        const parsed = parseImageReference(r);
        if ("error" in parsed) ctx.addIssue({ code: "custom", message: parsed.error });
      })
      .describe(
        "the reference pods write, e.g. nginx:1.25 or ghcr.io/acme/api:1.4 (a registry other than Docker Hub needs an entry under `registries`)",
      ),
    pullPolicy: z
      .enum(["Always", "IfNotPresent"])
      .optional()
      .describe(
        "the imagePullPolicy its pods are written with (default: Kubernetes' own, Always for :latest or no tag, else IfNotPresent); a design's pullPolicy other than `default` overrides it",
      ),
    pullSecret: z
      .boolean()
      .default(false)
      .describe(
        "its pods pull with imagePullSecrets: an account (one, shared by every node) even when the design pulls anonymously",
      ),
    pinned: z
      .boolean()
      .default(false)
      .describe(
        "its pods name it by digest, as the cluster's do (the digest its tag names in the fake registry when the pod is created); a design's pin: digest pins every image",
      ),
    absent: z
      .boolean()
      .default(false)
      .describe(
        "the image is meant to be missing from the registry (a 404 story): validation warns instead of failing",
      ),
  })
  .strict();

/** A fleet pod: one on every node (an image name), or replicas spread over the nodes. */
const podSchema = z.union([
  imageName,
  z
    .object({
      image: imageName,
      replicas: z
        .number()
        .int()
        .min(1)
        .max(1_000_000)
        .describe(
          "pods of the image, spread over the nodes at the start as the scheduler spreads them (node i of n runs one more while i < replicas mod n); a replaced node's pods move to its replacement, nodes added later run none",
        ),
    })
    .strict(),
]);

/** A pod count or a share of the replicas, as Kubernetes writes maxSurge and maxUnavailable. */
const surgeSchema = z.union([
  z.number().int().min(0),
  z.string().regex(/^\d{1,3}%$/, "a count or a percentage, e.g. 25%"),
]);

const step = {
  at: duration.default(0).describe("when the step starts, from the scenario start"),
  over: duration.default(0).describe("how long the step spreads its work over"),
};

const workloadSchema = z.discriminatedUnion("type", [
  z
    .object({ type: z.literal("scale-up"), ...step, nodes: count })
    .strict()
    .describe("nodes join with empty caches and start their pods"),
  z
    .object({ type: z.literal("node-churn"), ...step, nodes: count })
    .strict()
    .describe(
      "nodes are replaced by new ones with empty caches (autoscaling, kernel-update rollouts)",
    ),
  z
    .object({ type: z.literal("rolling-restart"), ...step, image: imageName })
    .strict()
    .describe("every pod running the image is recreated, paced by the design's rollout"),
  z
    .object({
      type: z.literal("ci-fan-out"),
      ...step,
      jobs: count,
      images: z.array(imageName).min(1),
    })
    .strict()
    .describe("N CI jobs queued at once, each pulling its images"),
  z
    .object({
      type: z.literal("arrivals"),
      ...step,
      desktops: count,
      images: z.array(imageName).min(1),
    })
    .strict()
    .describe("developers arriving (Monday 08:45-09:30) and pulling"),
  z
    .object({ type: z.literal("prune"), ...step })
    .strict()
    .describe("every node's image cache is pruned"),
  z
    .object({ type: z.literal("tag-move"), ...step, image: imageName })
    .strict()
    .describe("the image's tag moves to a new digest in the registry"),
  z
    .object({
      type: z.literal("rollout"),
      ...step,
      image: imageName,
      kind: z
        .enum(["Deployment", "DaemonSet"])
        .default("Deployment")
        .describe("the workload the image's pods belong to (one pod per node)"),
      tag: z
        .string()
        .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, "a tag, e.g. 1.26")
        .optional()
        .describe("roll out this tag of the image's repository (default: its own reference)"),
      maxSurge: surgeSchema
        .optional()
        .describe("new pods above the desired count (Deployment default 25%, DaemonSet 0)"),
      maxUnavailable: surgeSchema
        .optional()
        .describe("old pods down at once (Deployment default 25%, DaemonSet 1)"),
      interval: duration
        .default(30_000)
        .describe("time a batch takes to become ready before the next one starts"),
    })
    .strict()
    .describe(
      "a new tag or digest rolled out across a Deployment or DaemonSet in batches (maxSurge + maxUnavailable pods at once); pinned designs roll out the digest the tag names then",
    ),
]);

const mirrorSchema = z
  .object({
    enabled: z.boolean().default(true),
    backend: z
      .enum(["auto", "process", "container", "external", "model"])
      .default("auto")
      .describe(
        "what serves the mirror in live runs: auto = CNCF distribution (docker-registry) started by pullstorm when installed and the design needs nothing only the model has, else the model; process = docker-registry, required; container = registry:2 through testcontainers (needs a container engine: Docker, or podman's Docker API); external = a running mirror at `url`; model = the simulator's mirror model. Virtual runs always use the model.",
      ),
    url: z
      .string()
      .optional()
      .describe(
        "backend external: the running mirror's URL (loopback, or remote with --allow-remote)",
      ),
    image: z
      .string()
      .optional()
      .describe("backend container: the image to run (default registry:2)"),
    flavour: z.enum(["distribution-2.8", "distribution-3", "harbor"]).default("distribution-2.8"),
    upstreamAuth: z
      .boolean()
      .default(false)
      .describe("the mirror pulls from upstream with an account"),
    cacheSize: z
      .union([z.string(), z.number()])
      .optional()
      .describe("blob cache capacity, e.g. 10GB (LRU eviction)"),
    storageLatency: duration.optional().describe("added to every cache read (slow storage)"),
    capacity: z
      .object({
        cores: z.number().int().min(1).max(1024).describe("the mirror server's processors"),
        cpuPerRequest: duration.describe(
          "processor time one client request needs, all the mirror does for it included (0: unlimited)",
        ),
      })
      .strict()
      .optional()
      .describe(
        "the mirror server's capacity: client requests queue for its cores (default: docker-registry 2.8.2 as measured, 2 cores x 3.5ms; docs/mirror-model.md, Capacity)",
      ),
    configuredFor: z
      .union([runtimeSchema, z.array(runtimeSchema).min(1)], {
        error: "a runtime (containerd, dockerd, cri-o) or a non-empty list of them",
      })
      .optional()
      .describe(
        "the runtime(s) the mirror is configured on (containerd's hosts.toml, dockerd's registry-mirrors, CRI-O's registries.conf), e.g. [containerd, dockerd] for nodes and CI runners alike; default: the one the nodes run",
      ),
  })
  .strict()
  .superRefine((m, ctx) => {
    if (m.backend === "external" && !m.url)
      ctx.addIssue({
        code: "custom",
        path: ["url"],
        message: "backend external needs the mirror's url",
      });
    if (m.url !== undefined && m.backend !== "external")
      ctx.addIssue({
        code: "custom",
        path: ["url"],
        message: "url is only for backend external",
      });
    if (m.image !== undefined && m.backend !== "container")
      ctx.addIssue({
        code: "custom",
        path: ["image"],
        message: "image is only for backend container",
      });
  });

/** A server's link, as its clients see it (defaults: simulator/engine/timing.ts NETWORK_DEFAULTS). */
function linkSchema(
  defaults: { rtt: number; serviceTime: number; bandwidth: number },
  who: string,
) {
  return z
    .object({
      rtt: duration.default(defaults.rtt).describe(`round trip from a client to ${who}`),
      serviceTime: duration
        .default(defaults.serviceTime)
        .describe(`${who}'s time to answer, before the first byte`),
      bandwidth: bandwidthSchema
        .default(defaults.bandwidth)
        .describe(`${who}'s rate per connection, e.g. 5Gbit/s`),
    })
    .strict()
    .default({
      rtt: defaults.rtt,
      serviceTime: defaults.serviceTime,
      bandwidth: defaults.bandwidth,
    });
}

const networkSchema = z
  .object({
    enabled: z
      .boolean()
      .default(true)
      .describe(
        "false: requests take no simulated time and pods start the instant they are created",
      ),
    node: z
      .object({
        bandwidth: bandwidthSchema
          .default(NETWORK_DEFAULTS.nodeBandwidth)
          .describe("a node's (or CI runner's, desktop's) NIC, e.g. 10Gbit/s"),
      })
      .strict()
      .default({ bandwidth: NETWORK_DEFAULTS.nodeBandwidth }),
    upstream: linkSchema(
      {
        rtt: NETWORK_DEFAULTS.upstream.rttMs,
        serviceTime: NETWORK_DEFAULTS.upstream.serviceMs,
        bandwidth: NETWORK_DEFAULTS.upstream.bytesPerSecond,
      },
      "the origin registry",
    ),
    mirror: linkSchema(
      {
        rtt: NETWORK_DEFAULTS.mirror.rttMs,
        serviceTime: NETWORK_DEFAULTS.mirror.serviceMs,
        bandwidth: NETWORK_DEFAULTS.mirror.bytesPerSecond,
      },
      "the pull-through mirror",
    ),
    starts: z
      .object({
        podJitter: duration
          .default(NETWORK_DEFAULTS.starts.podJitterMs)
          .describe("each pod asks for its image uniformly within this long after it is created"),
        nodeJitter: duration
          .default(NETWORK_DEFAULTS.starts.nodeJitterMs)
          .describe("a new node's pods are created uniformly within this long after the node"),
      })
      .strict()
      .default({
        podJitter: NETWORK_DEFAULTS.starts.podJitterMs,
        nodeJitter: NETWORK_DEFAULTS.starts.nodeJitterMs,
      }),
  })
  .strict()
  .describe(
    "time on the wire and at start: round trips, service times, bandwidth, start jitter (docs/simulator.md, Time on the wire)",
  );

/** An origin registry other than Docker Hub: its host, as image references name it, and its policy and catalog. */
const originSchema = z
  .object({
    host: z
      .string()
      .regex(
        /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?$/,
        "a registry host as references write it, e.g. ghcr.io or registry.example.com:5000",
      )
      .refine((h) => h !== "docker.io" && h !== "index.docker.io", {
        message: "Docker Hub is `registry`, not an entry under registries",
      }),
    preset: presetNameSchema.describe("its policy preset, e.g. ghcr, quay, unlimited"),
    policy: policySchema.optional(),
    catalog: catalogFileSchema.optional(),
  })
  .strict();

const designSchema = z
  .object({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]*$/, "design names are lower-case words joined by '-'"),
    description: z.string().optional(),
    auth: z
      .enum(["anonymous", "shared-account", "account-per-actor"])
      .default("anonymous")
      .describe("anonymous pulls, one account for everyone, or one per node/job"),
    plan: z.string().default("free").describe("the accounts' plan"),
    egressIps: z
      .number()
      .int()
      .min(1)
      .max(60_000)
      .default(1)
      .describe("distinct egress addresses (1 = all behind one NAT)"),
    mirror: mirrorSchema.optional(),
    prePull: z
      .boolean()
      .default(false)
      .describe(
        "pull each rolling restart's image on every node during the 15 minutes before it, paced",
      ),
    pin: z
      .enum(["tag", "digest"])
      .default("tag")
      .describe(
        "by tag, or by the digest the tag names when the pod is created or rolled out (as a deploy pipeline pins)",
      ),
    pullPolicy: z.enum(["default", "Always", "IfNotPresent"]).default("default"),
    rollout: z
      .object({
        maxSurge: z.number().int().min(1).default(1_000_000),
        waveInterval: duration.default(0),
      })
      .strict()
      .default({ maxSurge: 1_000_000, waveInterval: 0 })
      .describe("pacing: at most maxSurge nodes per wave, one wave per waveInterval"),
    ciConcurrency: z.number().int().min(1).optional().describe("at most this many CI jobs at once"),
    runnerCache: z.enum(["ephemeral", "persistent"]).default("ephemeral"),
    maxParallelImagePulls: z
      .number()
      .int()
      .min(1)
      .default(1)
      .describe("kubelet: 1 = serialized pulls"),
  })
  .strict();

const expectationSchema = z
  .object({
    design: z.string(),
    verdict: z.enum(["holds", "breaks"]).optional(),
    maxFailedPulls: z.number().int().min(0).optional(),
    maxP95StartSeconds: z.number().min(0).optional(),
    maxUpstream429: z.number().int().min(0).optional(),
    minUnitsStarted: z
      .number()
      .min(0)
      .max(1)
      .optional()
      .describe("share of pods/jobs/desktops started by the end"),
  })
  .strict();

export const scenarioSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/),
    description: z.string().default(""),
    duration: duration.describe("simulated length of the scenario"),
    seed: z.number().int().min(0).default(1),
    registry: z
      .object({
        preset: presetNameSchema.default("dockerhub-2020"),
        policy: policySchema.optional(),
        catalog: catalogFileSchema.optional(),
      })
      .strict()
      .default({ preset: "dockerhub-2020" })
      .describe(
        "Docker Hub (docker.io): where images without a registry, or on docker.io, come from",
      ),
    registries: z
      .array(originSchema)
      .default([])
      .describe(
        "registries other than Docker Hub that images are pulled from (ghcr.io, quay.io, ...), each with its own policy and catalog; `registry` is Docker Hub's",
      ),
    images: z.array(imageSchema).min(1),
    fleet: z
      .object({
        nodes: count.default(0),
        runtime: runtimeSchema.default("containerd"),
        pods: z
          .array(podSchema)
          .default([])
          .describe(
            "the pods each node runs: an image name is one pod on every node (new nodes too, as a DaemonSet); { image, replicas } is that many pods spread over the nodes at the start",
          ),
        ciRunners: count.default(0),
        ciRuntime: runtimeSchema.default("dockerd"),
        desktops: count.default(0),
        desktopCacheWarm: z.boolean().default(true),
      })
      .strict(),
    workload: z.array(workloadSchema).min(1),
    network: networkSchema.default(networkSchema.parse({})),
    faults: z
      .array(z.unknown())
      .default([])
      .describe("fault specs (docs/faults.md), scheduled on registry time"),
    designs: z.array(designSchema).min(1),
    expectations: z.array(expectationSchema).default([]),
    scale: z
      .string()
      .default("load")
      .describe(
        "what `pullstorm breakpoint` varies by default: load (a factor on the fleet and every workload step together) or the dotted path of one number, e.g. workload.0.jobs",
      ),
    nearMissThreshold: z
      .number()
      .min(0)
      .max(1)
      .default(0.8)
      .describe(
        "share of a limit (from RateLimit headers) past which a design that holds is flagged 'holds, near miss'",
      ),
  })
  .strict();

export type Scenario = z.output<typeof scenarioSchema>;
export type Design = Scenario["designs"][number];
export type WorkloadStep = Scenario["workload"][number];
export type Expectation = Scenario["expectations"][number];
export type Origin = Scenario["registries"][number];
export type FleetPod = Scenario["fleet"]["pods"][number];

/** The runtimes a design's mirror is configured on: `configuredFor`, else the nodes' runtime. */
export function mirrorRuntimes(
  scenario: Pick<Scenario, "fleet">,
  mirror: Pick<NonNullable<Design["mirror"]>, "configuredFor">,
): Array<z.output<typeof runtimeSchema>> {
  const c = mirror.configuredFor ?? scenario.fleet.runtime;
  return Array.isArray(c) ? c : [c];
}

/** The scenario format as JSON Schema, for editor completion. */
export function scenarioJsonSchema(): unknown {
  return z.toJSONSchema(scenarioSchema, { io: "input", unrepresentable: "any" });
}
