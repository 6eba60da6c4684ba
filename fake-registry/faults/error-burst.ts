import { z } from "zod";
import type { RegistryResponse } from "../core/types.ts";
import { serverErrorStatus } from "./params.ts";
import { defineFault } from "./types.ts";

/**
 * The registry itself fails: 5xx with an OCI error body, as CNCF distribution
 * writes them (errcode UNAVAILABLE "service unavailable" for 503, UNKNOWN
 * "unknown error" for the rest). With `count`, only the first `count` requests
 * that reach it get the error: a burst, then the fault is spent.
 */
export const errorBurst = defineFault({
  type: "error-burst",
  summary: "answer 5xx with an OCI error body, optionally only the first count requests",
  params: z.object({
    status: serverErrorStatus.default(503),
    count: z.number().int().min(1).optional(),
  }),
  create: ({ status, count }) => {
    let sent = 0;
    const spent = () => count !== undefined && sent >= count;
    return {
      answers: true,
      spent,
      apply: () => {
        if (spent()) return undefined;
        sent++;
        return { response: errorResponse(status) };
      },
    };
  },
});

function errorResponse(status: number): RegistryResponse {
  const error =
    status === 503
      ? { code: "UNAVAILABLE", message: "service unavailable" }
      : { code: "UNKNOWN", message: "unknown error" };
  return {
    status,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ errors: [error] }),
  };
}
