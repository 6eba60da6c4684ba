/** `GET /v2/<name>/tags/list`, paginated with `n` and `last` and a `Link` header, as distribution does. */
import type { Catalog } from "../catalog/catalog.ts";
import { ociError } from "../core/errors.ts";
import type { RegistryResponse } from "../core/types.ts";
import { unknownName } from "./errors.ts";

export function serveTags(
  catalog: Catalog,
  name: string,
  query: URLSearchParams,
): RegistryResponse {
  const tags = catalog.tags(name);
  if (!tags) return unknownName(name);
  const nRaw = query.get("n");
  const last = query.get("last");
  let page = last ? tags.filter((t) => t > last) : tags;
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (nRaw !== null) {
    const n = Number(nRaw);
    if (!Number.isInteger(n) || n < 0 || n > 10_000)
      return ociError("UNSUPPORTED", "n must be an integer from 0 to 10000", { status: 400 });
    if (page.length > n) {
      const lastShown = page[n - 1];
      if (lastShown !== undefined)
        headers.link = `</v2/${name}/tags/list?n=${n}&last=${encodeURIComponent(lastShown)}>; rel="next"`;
      page = page.slice(0, n);
    }
  }
  return { status: 200, headers, body: JSON.stringify({ name, tags: page }) };
}
