/**
 * `GET /v2/_catalog[?n=&last=]`: the repository list, paginated with `n` and
 * `last` and a `Link` header as distribution does (its default page is 100,
 * here 1000). Private repositories are listed to their users only.
 */
import type { Catalog } from "../catalog/catalog.ts";
import { ociError } from "../core/errors.ts";
import type { RegistryResponse } from "../core/types.ts";

/** Repositories per page when the client does not say (`n`). */
export const CATALOG_PAGE = 1000;
/** The largest page a client may ask for. */
export const CATALOG_PAGE_MAX = 10_000;

export function serveCatalog(
  catalog: Catalog,
  query: URLSearchParams,
  visible: (name: string) => boolean,
): RegistryResponse {
  const nRaw = query.get("n");
  const last = query.get("last");
  let n = CATALOG_PAGE;
  if (nRaw !== null) {
    n = Number(nRaw);
    if (!Number.isInteger(n) || n < 0 || n > CATALOG_PAGE_MAX)
      return ociError("UNSUPPORTED", `n must be an integer from 0 to ${CATALOG_PAGE_MAX}`, {
        status: 400,
      });
  }
  const names = catalog.names();
  // Sorted: the first name after `last` by binary search, then the page.
  let lo = 0;
  if (last) {
    let hi = names.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((names[mid] as string) <= last) lo = mid + 1;
      else hi = mid;
    }
  }
  const page: string[] = [];
  let i = lo;
  for (; i < names.length && page.length < n; i++) {
    const name = names[i] as string;
    if (visible(name)) page.push(name);
  }
  const headers: Record<string, string> = { "content-type": "application/json" };
  let more = false;
  for (let j = i; j < names.length && !more; j++) more = visible(names[j] as string);
  const lastShown = page[page.length - 1];
  if (more && lastShown !== undefined)
    headers.link = `</v2/_catalog?n=${n}&last=${encodeURIComponent(lastShown)}>; rel="next"`;
  return { status: 200, headers, body: JSON.stringify({ repositories: page }) };
}
