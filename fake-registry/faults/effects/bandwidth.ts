import { Readable } from "node:stream";
import type { BodyEffect } from "./types.ts";

/**
 * Send the body no faster than `bytesPerSecond`. Live: a stream that releases
 * byte n no earlier than n / bytesPerSecond after the start, in about 20
 * chunks a second (Content-Length and the bytes unchanged). Virtual: the body
 * takes size / bytesPerSecond in simulated time. HEAD answers have no body:
 * nothing to pace in either mode.
 */
export const bandwidth: BodyEffect = {
  name: "bandwidth",
  live(effects, body) {
    const rate = effects.bytesPerSecond;
    if (!rate || rate <= 0 || body.length === 0) return undefined;
    return pacedBody(body, rate);
  },
  virtual(effects, size) {
    const rate = effects.bytesPerSecond;
    return rate ? (size / rate) * 1000 : undefined;
  },
};

/** The body as a stream, destroyed with the response if the client leaves. */
function pacedBody(bytes: Buffer, bytesPerSecond: number): Readable {
  const chunk = Math.max(1, Math.min(64 * 1024, Math.floor(bytesPerSecond / 20)));
  const started = performance.now();
  let offset = 0;
  let timer: NodeJS.Timeout | undefined;
  return new Readable({
    read() {
      if (timer || offset >= bytes.length) return;
      const end = Math.min(offset + chunk, bytes.length);
      const due = started + (end / bytesPerSecond) * 1000;
      const send = () => {
        const piece = bytes.subarray(offset, end);
        offset = end;
        this.push(piece);
        if (offset >= bytes.length) this.push(null);
      };
      // A chunk already due goes at once: a timer would add a turn of the event loop (a
      // millisecond or more, minutes at a high time scale) to bodies a fast link sends in less.
      const wait = due - performance.now();
      if (wait <= 0) {
        send();
        return;
      }
      timer = setTimeout(() => {
        timer = undefined;
        send();
      }, wait);
    },
    destroy(error, callback) {
      clearTimeout(timer);
      callback(error);
    },
  });
}
