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
 * server (live, `scale` > 1).
 */
export function shaped<R extends { response: { effects?: TransportEffects } }>(
  server: Answering<R>,
  linkFor: (clientIp: string) => Link,
  scale = 1,
): Answering<R> {
  return {
    async handle(req, client) {
      const handled = await server.handle(req, client);
      const effects = linkEffects(linkFor(client.ip), scale);
      if (!effects) return handled;
      return {
        ...handled,
        response: { ...handled.response, effects: mergeEffects(handled.response.effects, effects) },
      };
    },
  };
}

/** The origin registry's links: the mirror (from `mirrorEgress`) on its own, every other client on the upstream link. */
export function registryLinks(
  network: NetworkModel,
  mirrorEgress: string,
): (clientIp: string) => Link {
  return (clientIp) => (clientIp === mirrorEgress ? network.mirrorUpstream : network.upstream);
}
