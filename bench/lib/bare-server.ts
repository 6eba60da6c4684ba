/**
 * The floor for the manifest benchmark: a bare `node:http` server that answers
 * every request with the same bytes and headers, doing nothing else (no
 * routing, no auth, no counting).
 *
 *   node bench/lib/bare-server.ts --port N --body FILE --headers JSON
 *
 * Prints `bare node:http listening on http://127.0.0.1:N` when ready; SIGTERM
 * or SIGINT stops it.
 */
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    body: { type: "string" },
    headers: { type: "string", default: "{}" },
  },
});
if (!values.body) {
  process.stderr.write("usage: bare-server.ts --port N --body FILE --headers JSON\n");
  process.exit(2);
}
const body = readFileSync(values.body);
const headers: Record<string, string> = {
  ...(JSON.parse(values.headers) as Record<string, string>),
  "content-length": String(body.length),
};
const server = createServer((req, res) => {
  res.writeHead(200, headers);
  res.end(req.method === "HEAD" ? undefined : body);
});
server.keepAliveTimeout = 72_000;
server.listen(Number(values.port), "127.0.0.1", () => {
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : values.port;
  process.stdout.write(`bare node:http listening on http://127.0.0.1:${port}\n`);
});
const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
