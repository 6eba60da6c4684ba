/**
 * The native side of `npm run bench:engines`: the live engine's own transport
 * (simulator/engine/transport.ts HttpTransport, as `pullstorm run` uses it:
 * one connection per request, from a 127.0.0.x source address per client)
 * driven by VUS concurrent clients that GET the same manifest with a bearer
 * token for SECONDS, as fast as the registry answers.
 *
 *   node bench/lib/native-load.ts URL TOKEN VUS SECONDS
 *
 * Prints {requests, ok, seconds} as JSON.
 */
import { HttpTransport, isNetworkError } from "../../simulator/engine/transport.ts";
import { MANIFEST_ACCEPT } from "./registry-client.ts";

const [url = "", token = "", vusArg = "32", secondsArg = "10"] = process.argv.slice(2);
const target = new URL(url);
const transport = new HttpTransport({ registry: target.origin });
const headers = { authorization: `Bearer ${token}`, accept: MANIFEST_ACCEPT };
const vus = Number(vusArg);
const started = performance.now();
const deadline = started + Number(secondsArg) * 1000;
let requests = 0;
let ok = 0;

async function client(i: number): Promise<void> {
  // A source address per client, as a live run's clients each have their own.
  const egress = `127.0.0.${2 + i}`;
  while (performance.now() < deadline) {
    const res = await transport.send(
      { host: "registry", method: "GET", path: target.pathname, headers },
      egress,
    );
    requests++;
    if (!isNetworkError(res) && res.status === 200 && res.body.length > 0) ok++;
  }
}

await Promise.all(Array.from({ length: vus }, (_, i) => client(i)));
process.stdout.write(
  `${JSON.stringify({ requests, ok, seconds: (performance.now() - started) / 1000 })}\n`,
);
