import type { RegistryResponse } from "./types.ts";

/**
 * OCI distribution error codes with the status each is answered with
 * (distribution-spec v1.1, "Error Codes"; statuses as CNCF distribution sends them).
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

/** One OCI error as a response; `status` overrides the code's usual status (e.g. 400 UNSUPPORTED). */
export function ociError(
  code: ErrorCode,
  message: string,
  options: { detail?: unknown; status?: number; headers?: Record<string, string> } = {},
): RegistryResponse {
  const error: OciError = { code, message };
  if (options.detail !== undefined) error.detail = options.detail;
  return {
    status: options.status ?? ERROR_STATUS[code],
    headers: { "content-type": "application/json", ...options.headers },
    body: errorBody([error]),
  };
}
