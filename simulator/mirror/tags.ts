import { ociError } from "../../fake-registry/core/errors.ts";
import { type Served, upstreamError } from "./responses.ts";
import type { MirrorState } from "./state.ts";
import { type Session, succeeded } from "./upstream.ts";

/**
 * Tag listing: GET /v2/<name>/tags/list, proxied upstream; when that fails,
 * the tags known locally (distribution's proxyTagService.All).
 */
export async function tags(state: MirrorState, session: Session, name: string): Promise<Served> {
  const { profile } = state;
  const result =
    (await session.establish()) ?? (await session.send("GET", `/v2/${name}/tags/list`));
  if (succeeded(result)) {
    return {
      response: {
        status: 200,
        headers: {
          "content-type": result.headers["content-type"] ?? "application/json",
          "content-length": String(result.body.length),
        },
        body: result.body,
      },
      outcome: "miss",
      upstreamStatus: result.status,
    };
  }
  const local = state.manifests.tagsOf(name);
  if (local.length === 0 || profile.errors === "pass-through") {
    const response =
      profile.errors === "pass-through"
        ? upstreamError(profile, result, "tags")
        : ociError("NAME_UNKNOWN", "repository name not known to registry", { detail: { name } });
    return { response, outcome: "error", upstreamStatus: result.status };
  }
  const body = JSON.stringify({ name, tags: local });
  return {
    response: {
      status: 200,
      headers: {
        "content-type": "application/json",
        "content-length": String(Buffer.byteLength(body)),
      },
      body,
    },
    outcome: "stale",
    upstreamStatus: result.status,
  };
}
