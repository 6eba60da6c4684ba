import {
  ERROR_STATUS,
  type ErrorCode,
  errorBody,
  type OciError,
} from "../../vocabulary/oci/errors.ts";
import type { RegistryResponse } from "./types.ts";

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
