// k6 side of `npm run bench:engines`: every VU GETs the same manifest with a
// bearer token, as fast as the registry answers, the same requests the native
// engine's load (./native-load.ts) sends. Environment: URL, TOKEN, ACCEPT, SUMMARY (a file).
import http from "k6/http";
import { Counter } from "k6/metrics";

const ok = new Counter("ok_200");
const params = {
  headers: { Authorization: `Bearer ${__ENV.TOKEN}`, Accept: __ENV.ACCEPT },
};

export default function () {
  const res = http.get(__ENV.URL, params);
  if (res.status === 200 && res.body.length > 0) ok.add(1);
}

export function handleSummary(data) {
  const count = (name) => (data.metrics[name] ? data.metrics[name].values.count : 0);
  return {
    [__ENV.SUMMARY]: JSON.stringify({
      requests: count("http_reqs"),
      ok: count("ok_200"),
      seconds: data.state.testRunDurationMs / 1000,
    }),
  };
}
