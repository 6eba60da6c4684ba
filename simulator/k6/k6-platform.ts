import { Buffer as BufferPolyfill } from "buffer/";

/**
 * What the pull client takes from its platform and k6's JavaScript runtime
 * lacks: `Buffer` (answers' bodies; the `buffer` package, Node's API in plain
 * JavaScript), `URL` and `URLSearchParams` (a token realm's path, a token
 * request's query) and `performance.now()` (a request's latency). Each is put
 * on globalThis only where missing, so the same bundle runs unchanged in Node.
 * Imported first by ./k6-entry.ts.
 */

const g = globalThis as Record<string, unknown>;

/** application/x-www-form-urlencoded, as URLSearchParams writes it. */
function formEncode(text: string): string {
  return encodeURIComponent(text)
    .replace(/[!'()~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, "+");
}

function formDecode(text: string): string {
  return decodeURIComponent(text.replace(/\+/g, " "));
}

/** The part of URLSearchParams the client uses: get, set, append, sort, toString. */
export class SearchParams {
  private entries: Array<[string, string]> = [];

  constructor(init = "") {
    for (const pair of init.replace(/^\?/, "").split("&")) {
      if (!pair) continue;
      const eq = pair.indexOf("=");
      this.entries.push(
        eq < 0
          ? [formDecode(pair), ""]
          : [formDecode(pair.slice(0, eq)), formDecode(pair.slice(eq + 1))],
      );
    }
  }

  get(name: string): string | null {
    return this.entries.find(([k]) => k === name)?.[1] ?? null;
  }

  append(name: string, value: string): void {
    this.entries.push([name, String(value)]);
  }

  set(name: string, value: string): void {
    const at = this.entries.findIndex(([k]) => k === name);
    this.entries = this.entries.filter(([k], i) => k !== name || i === at);
    if (at < 0) this.entries.push([name, String(value)]);
    else this.entries[at] = [name, String(value)];
  }

  sort(): void {
    this.entries = this.entries
      .map((e, i) => [e, i] as const)
      .sort(([a, i], [b, j]) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : i - j))
      .map(([e]) => e);
  }

  toString(): string {
    return this.entries.map(([k, v]) => `${formEncode(k)}=${formEncode(v)}`).join("&");
  }
}

const ABSOLUTE = /^([a-z][a-z0-9+.-]*:)\/\/([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/i;

/** The part of URL the client uses: an absolute URL (or a path against a base) and its parts. */
export class MinimalURL {
  readonly protocol: string;
  readonly host: string;
  readonly pathname: string;
  readonly search: string;
  readonly hash: string;

  constructor(input: string, base?: string) {
    let m = ABSOLUTE.exec(input);
    if (!m && base !== undefined && input.startsWith("/")) {
      const b = ABSOLUTE.exec(base);
      if (b) m = ABSOLUTE.exec(`${b[1]}//${b[2]}${input}`);
    }
    if (!m) throw new TypeError(`Invalid URL: ${input}`);
    this.protocol = (m[1] as string).toLowerCase();
    this.host = m[2] as string;
    this.pathname = m[3] || "/";
    this.search = m[4] && m[4] !== "?" ? m[4] : "";
    this.hash = m[5] ?? "";
  }

  get hostname(): string {
    return this.host.replace(/:\d+$/, "");
  }

  get origin(): string {
    return `${this.protocol}//${this.host}`;
  }

  get href(): string {
    return `${this.origin}${this.pathname}${this.search}${this.hash}`;
  }

  toString(): string {
    return this.href;
  }
}

g.Buffer ??= BufferPolyfill;
g.URL ??= MinimalURL;
g.URLSearchParams ??= SearchParams;
g.performance ??= { now: () => Date.now() };
