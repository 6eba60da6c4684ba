import { type Agent, request } from "node:http";
import { connect } from "node:net";

export interface SimpleResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One HTTP request from a chosen source address (127.0.0.x simulates distinct client IPs). */
export function httpRequest(
  url: string,
  options: {
    method?: string;
    headers?: Record<string, string>;
    localAddress?: string;
    body?: string;
    /** A keep-alive agent (with its own localAddress) instead of one connection per request. */
    agent?: Agent;
    /** Client-side timeout; the request then fails with code TIMEOUT (default 10 s). */
    timeoutMs?: number;
  } = {},
): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? "GET",
        headers: options.headers,
        ...(options.localAddress ? { localAddress: options.localAddress } : {}),
        agent: options.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
          }),
        );
        res.on("error", reject);
      },
    );
    req.setTimeout(options.timeoutMs ?? 10_000, () =>
      req.destroy(Object.assign(new Error(`client timeout: ${url}`), { code: "TIMEOUT" })),
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

/** Writes raw bytes to the server and returns everything it answers until it closes (bounded). */
export function rawRequest(
  host: string,
  port: number,
  data: string,
  timeoutMs = 5_000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let answer = "";
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(answer);
    }, timeoutMs);
    socket.on("data", (d: Buffer) => {
      answer += d.toString("latin1");
      // one response is enough: stop once the declared body has arrived
      const head = answer.indexOf("\r\n\r\n");
      const len = /content-length: (\d+)/i.exec(answer)?.[1];
      if (head >= 0 && len !== undefined && answer.length >= head + 4 + Number(len)) {
        clearTimeout(timer);
        socket.destroy();
        resolve(answer);
      }
    });
    socket.on("end", () => {
      clearTimeout(timer);
      resolve(answer);
    });
    socket.on("error", (e) => {
      clearTimeout(timer);
      if (answer) resolve(answer);
      else reject(e);
    });
    socket.write(data);
  });
}
