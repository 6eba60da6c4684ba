import { z } from "zod";
import { size } from "./params.ts";
import { defineFault } from "./types.ts";

/** Cap each response body at a rate (per connection): big layers crawl, small manifests barely notice. */
export const bandwidth = defineFault({
  type: "bandwidth",
  summary: "send response bodies no faster than bytesPerSecond",
  params: z.object({ bytesPerSecond: size }),
  create: ({ bytesPerSecond }) => ({
    answers: false,
    apply: () => ({ effects: { bytesPerSecond } }),
  }),
});
