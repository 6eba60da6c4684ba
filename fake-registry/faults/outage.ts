import { STATUS_CODES } from "node:http";
import { z } from "zod";
import type { RegistryResponse } from "../core/types.ts";
import { serverErrorStatus } from "./params.ts";
import { defineFault } from "./types.ts";

/** nginx's (and AWS load balancers') wording for the statuses they send when upstreams fail. */
const PROXY_REASON: Record<number, string> = {
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Temporarily Unavailable",
  504: "Gateway Time-out",
};

/**
 * The registry is gone and the load balancer in front answers for it: not an
 * OCI body but whatever the proxy says with no healthy backend. `server` picks
 * the proxy: envoy (text/plain "no healthy upstream"), nginx or elb (HTML pages).
 */
export const outage = defineFault({
  type: "outage",
  summary: "answer every request as a load balancer with no healthy backend would",
  params: z.object({
    status: serverErrorStatus.default(503),
    server: z.enum(["envoy", "nginx", "elb"]).default("envoy"),
  }),
  create: ({ status, server }) => ({
    answers: true,
    apply: () => ({ response: proxyResponse(status, server) }),
  }),
});

function proxyResponse(status: number, server: "envoy" | "nginx" | "elb"): RegistryResponse {
  if (server === "envoy") {
    return {
      status,
      headers: { "content-type": "text/plain", server: "envoy" },
      body: "no healthy upstream",
    };
  }
  const title = `${status} ${PROXY_REASON[status] ?? STATUS_CODES[status] ?? "Error"}`;
  const footer = server === "nginx" ? "<hr><center>nginx</center>\r\n" : "";
  return {
    status,
    headers: { "content-type": "text/html", server: server === "nginx" ? "nginx" : "awselb/2.0" },
    body: `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n${footer}</body>\r\n</html>\r\n`,
  };
}
