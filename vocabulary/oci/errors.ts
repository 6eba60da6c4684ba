/**
 * OCI distribution error codes with the status each is answered with
 * (distribution-spec v1.1, "Error Codes"; statuses as CNCF distribution sends them),
 * the error body, and the one reading of an error answer that every client model
 * and report classifies on.
 */
export const ERROR_STATUS = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 404,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 405,
  TOOMANYREQUESTS: 429,
  /** distribution's catch-all for server faults; never carries internals. */
  UNKNOWN: 500,
  /** distribution's errcode for "service unavailable" (a store or upstream that cannot answer). */
  UNAVAILABLE: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface OciError {
  code: ErrorCode;
  message: string;
  detail?: unknown;
}

export function errorBody(errors: OciError[]): string {
  return JSON.stringify({ errors });
}

/** The fake registry's header naming the layer that refused (quota, token-quota, abuse, edge, fault...). */
export const REFUSAL_HEADER = "pullstorm-refusal";

/**
 * The fake registry's header saying how many pulls its pull limit charged an
 * answer (an index GET 1, the platform manifest GET joining it 0, HEADs 0):
 * reports read the registry's decision instead of counting manifest GETs.
 */
export const PULLS_HEADER = "pullstorm-pulls";

/**
 * The error code an answer carries, as events and reports record it: the first
 * OCI code of a JSON body, "HAP429" for Docker's plain-text abuse limit, "html"
 * for a proxy's error page, "text" for any other body, none for a success or an
 * empty body.
 */
export function errorCode(
  status: number,
  headers: Record<string, string | undefined>,
  body: Buffer | string,
): string | undefined {
  if (status < 400 || body.length === 0) return undefined;
  const text = typeof body === "string" ? body.slice(0, 8192) : body.subarray(0, 8192).toString();
  try {
    const code = (JSON.parse(text) as { errors?: { code?: unknown }[] }).errors?.[0]?.code;
    if (typeof code === "string") return code;
  } catch {
    // not JSON
  }
  if (text.includes("HAP429")) return "HAP429";
  if (/html/i.test(headers["content-type"] ?? "") || /^\s*<(!doctype|html)/i.test(text))
    return "html";
  return "text";
}
