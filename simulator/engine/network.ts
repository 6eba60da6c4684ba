import type { RegistryRequest, TransportEffects } from "../../fake-registry/core/types.ts";
import { mergeEffects } from "../../fake-registry/faults/fault-set.ts";
import { type Link, linkEffects, type NetworkModel } from "./timing.ts";

/** A server (registry core, mirror model, tap) as the transports and the HTTP adapter call it. */
export interface Answering<R> {
  handle(req: RegistryRequest, client: { ip: string }): Promise<R>;
}

/**
 * The server behind its links: every answer carries the effects of the link
 * its client is on (merged with any fault's: delays add, the lower rate wins).
 * The same wrapper serves the in-process transport (virtual) and the HTTP
 * server (live, `scale` > 1). Effects are in simulated time; live, they are
 * carried out on the socket in wall time, so the link's and the faults' alike
 * are scaled here (a 2 s latency fault at x120 holds the answer 16.7 wall ms).
 */
export function shaped<R extends { response: { effects?: TransportEffects } }>(
  server: Answering<R>,
  linkFor: (clientIp: string) => Link,
  scale = 1,
): Answering<R> {
  return {
    async handle(req, client) {
      const handled = await server.handle(req, client);
      const fault = handled.response.effects;
      const link = linkEffects(linkFor(client.ip), scale);
      if (!link && (!fault || scale === 1)) return handled;
      const effects = mergeEffects(fault ? scaleEffects(fault, scale) : undefined, link ?? {});
      return { ...handled, response: { ...handled.response, effects } };
    },
  };
}

/** Effects in simulated time as wall time at `scale`: waits shorter, rates higher. */
export function scaleEffects(effects: TransportEffects, scale: number): TransportEffects {
  if (scale === 1) return effects;
  const out: TransportEffects = { ...effects };
  if (effects.delayMs !== undefined) out.delayMs = effects.delayMs / scale;
  if (effects.hangMs !== undefined) out.hangMs = effects.hangMs / scale;
  if (effects.bytesPerSecond !== undefined) out.bytesPerSecond = effects.bytesPerSecond * scale;
  return out;
}

/** The origin registry's links: the mirror (from `mirrorEgress`) on its own, every other client on the upstream link. */
export function registryLinks(
  network: NetworkModel,
  mirrorEgress: string,
): (clientIp: string) => Link {
  return (clientIp) => (clientIp === mirrorEgress ? network.mirrorUpstream : network.upstream);
}
