/** The query of every request without one: shared, so it refuses to change. */
class NoQuery extends URLSearchParams {
  override append(): void {
    throw new Error("the shared empty query is read-only");
  }
  override delete(): void {
    throw new Error("the shared empty query is read-only");
  }
  override set(): void {
    throw new Error("the shared empty query is read-only");
  }
  override sort(): void {
    throw new Error("the shared empty query is read-only");
  }
}

/** One read-only empty query for every request without one (no allocation per request). */
export const NO_QUERY: URLSearchParams = new NoQuery();
