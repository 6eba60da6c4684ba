import type { Account } from "../../fake-registry/auth/users.ts";
import { parseSize } from "../../vocabulary/config/units.ts";
import type { EventSink } from "../../vocabulary/events.ts";
import type { Sim } from "../engine/sim.ts";
import type { Transport } from "../engine/transport-types.ts";
import type { Design } from "../scenario/schema.ts";
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
