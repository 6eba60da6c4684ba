import type { Account } from "../../fake-registry/auth/users.ts";
import { parseSize } from "../../vocabulary/config/units.ts";
import { type EventSink, ORIGIN_HOST, originHost } from "../../vocabulary/events.ts";
import { type ImageRef, parseReference } from "../../vocabulary/oci/reference.ts";
import type { HostRoute } from "../client/pull-client.ts";
import type { Sim } from "../engine/sim.ts";
import type { Transport } from "../engine/transport-types.ts";
import { type Design, mirrorRuntimes, type Scenario } from "../scenario/schema.ts";
import { UNLIMITED } from "./cpu.ts";
import { MirrorModel } from "./model.ts";

/** The mirror's own source address: what the origin counts when the mirror pulls anonymously. */
export const MIRROR_EGRESS = "127.0.0.250";

/**
 * The mirror model a design asks for (flavour, cache size, storage latency,
 * capacity: the flavour's measured one unless the design gives its own),
 * pulling through `transport`'s "registry" host from the mirror's own address,
 * as its own account when the design gives it one. Every engine builds it here.
 */
export function mirrorModelFor(
  mirror: NonNullable<Design["mirror"]>,
  options: {
    design: string;
    transport: Transport;
    sim: Sim;
    account: Account | undefined;
    emit?: EventSink;
    /** The scenario's `network.enabled`: false makes requests instantaneous, the mirror's processors too. */
    timed: boolean;
  },
): MirrorModel {
  const cacheBytes = mirror.cacheSize !== undefined ? parseSize(mirror.cacheSize) : undefined;
  const { account } = options;
  return new MirrorModel({
    upstream: {
      transport: options.transport,
      host: "registry",
      egressIp: MIRROR_EGRESS,
      ...(account ? { credentials: { user: account.name, password: account.password } } : {}),
    },
    flavour: mirror.flavour,
    sim: options.sim,
    ...(typeof cacheBytes === "number" ? { cacheBytes } : {}),
    ...(mirror.storageLatency !== undefined ? { storageLatencyMs: mirror.storageLatency } : {}),
    ...(!options.timed
      ? { capacity: UNLIMITED }
      : mirror.capacity
        ? {
            capacity: {
              cores: mirror.capacity.cores,
              cpuPerRequestMs: mirror.capacity.cpuPerRequest,
            },
          }
        : {}),
    ...(options.emit ? { emit: options.emit } : {}),
    design: options.design,
  });
}

/**
 * Where a design's clients send an image's requests, in the order they try them: a
 * runtime the mirror is configured on goes to the mirror first, then (containerd
 * appends the image's own registry even without `server` in hosts.toml) the origin;
 * the mirror fronts Docker Hub only, so images from the scenario's other registries
 * go to their own origin. Every engine routes this way.
 */
export function designRoutes(
  scenario: Pick<Scenario, "fleet">,
  design: Pick<Design, "mirror">,
): (runtime: string, ref?: ImageRef) => HostRoute[] {
  const mirror = design.mirror?.enabled ? design.mirror : undefined;
  const mirrored = mirror ? mirrorRuntimes(scenario, mirror) : [];
  return (runtime, ref) => {
    if (ref?.registry) return [{ host: originHost(ref.registry), role: "upstream" }];
    return mirrored.some((r) => r === runtime)
      ? [
          { host: "mirror", role: "mirror" },
          { host: ORIGIN_HOST, role: "upstream" },
        ]
      : [{ host: ORIGIN_HOST, role: "upstream" }];
  };
}

/** True when the pods of `ref`'s image pull with imagePullSecrets (`pullSecret` on an image of that registry and repository). */
export function pullSecretOf(scenario: Pick<Scenario, "images">): (ref: ImageRef) => boolean {
  const secret = new Set<string>();
  for (const image of scenario.images) {
    if (!image.pullSecret) continue;
    const ref = parseReference(image.ref);
    if (!("error" in ref)) secret.add(`${ref.registry ?? ""}/${ref.repository}`);
  }
  return (ref) => secret.size > 0 && secret.has(`${ref.registry ?? ""}/${ref.repository}`);
}
