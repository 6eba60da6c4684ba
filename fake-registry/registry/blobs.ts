/** `GET|HEAD /v2/<name>/blobs/<digest>`, with single byte ranges (`Range: bytes=a-b`, `bytes=-n`). */
import type { Catalog } from "../catalog/catalog.ts";
import { ociError } from "../core/errors.ts";
import type { RegistryResponse } from "../core/types.ts";
import { unknownName } from "./errors.ts";

export async function serveBlob(
  catalog: Catalog,
  name: string,
  digest: string,
  range: string | undefined,
  head: boolean,
  elapsed: number,
): Promise<RegistryResponse> {
  if (!catalog.spec(name)) return unknownName(name);
  const blob = await catalog.blob(name, digest, elapsed);
  if (!blob) return ociError("BLOB_UNKNOWN", "blob unknown to registry", { detail: { digest } });
  const headers: Record<string, string> = {
    "content-type": "application/octet-stream",
    "docker-content-digest": digest,
    etag: `"${digest}"`,
    "accept-ranges": "bytes",
    "cache-control": "max-age=31536000",
  };
  if (head) return { status: 200, headers: { ...headers, "content-length": String(blob.size) } };
  const bytes = await blob.load();
  if (range) {
    const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
    const start = m?.[1] ? Number(m[1]) : m?.[2] ? bytes.length - Number(m[2]) : 0;
    const end = m?.[1] && m[2] ? Math.min(Number(m[2]), bytes.length - 1) : bytes.length - 1;
    if (!m || (!m[1] && !m[2]) || start < 0 || start > end || start >= bytes.length) {
      return ociError("SIZE_INVALID", "requested range not satisfiable", {
        status: 416,
        headers: { "content-range": `bytes */${bytes.length}` },
      });
    }
    const part = bytes.subarray(start, end + 1);
    return {
      status: 206,
      headers: {
        ...headers,
        "content-length": String(part.length),
        "content-range": `bytes ${start}-${end}/${bytes.length}`,
      },
      body: part,
    };
  }
  return {
    status: 200,
    headers: { ...headers, "content-length": String(bytes.length) },
    body: bytes,
  };
}
