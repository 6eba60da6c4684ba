// The simulator's mirror model, set up the way its tests need it: policies for the
// upstream, a handle on its faults, and the model served over HTTP in wall time.

import type { FaultSet } from "../../fake-registry/faults/index.ts";
import { parsePolicyDocument } from "../../fake-registry/policy/file.ts";
import type { Policy } from "../../fake-registry/policy/types.ts";
import type { Registry } from "../../fake-registry/registry/registry.ts";
import { LiveSim } from "../../simulator/engine/sim.ts";
import { HttpTransport } from "../../simulator/engine/transport.ts";
import { MirrorModel } from "../../simulator/mirror/model.ts";
import { serveMirror } from "../../simulator/mirror/serve.ts";

/** What a client that takes an index asks for. */
export const INDEX_ACCEPT = [
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.oci.image.manifest.v1+json",
].join(", ");

/** dockerhub-2020 with `limit` anonymous manifest GETs per 6 h. */
export function quota(limit: number): Policy {
  return parsePolicyDocument(
    { limits: { pulls: { anonymous: { limit, window: "6h" } } } },
    "dockerhub-2020",
  ) as Policy;
}

/** The registry's fault set, to add faults to in a test. */
export function faults(registry: Registry): FaultSet {
  return registry.faults as unknown as FaultSet;
}

export interface ServedModel {
  url: string;
  /** host:port, for image references. */
  host: string;
  stop(): Promise<void>;
}

/** A distribution-2.8 MirrorModel in wall time, in front of `upstream` over HTTP, served on 127.0.0.1. */
export async function serveModelMirror(upstream: string): Promise<ServedModel> {
  const sim = new LiveSim(1, 1);
  const model = new MirrorModel({
    upstream: {
      transport: new HttpTransport({ registry: upstream }),
      host: "registry",
      egressIp: "127.0.0.1",
    },
    flavour: "distribution-2.8",
    sim,
  });
  try {
    await model.start();
    const served = await serveMirror(model, { host: "127.0.0.1", port: 0 });
    return {
      url: served.url,
      host: new URL(served.url).host,
      stop: async () => {
        await served.close();
        sim.stop();
      },
    };
  } catch (error) {
    sim.stop();
    throw error;
  }
}
