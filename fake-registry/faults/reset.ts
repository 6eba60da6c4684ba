import { z } from "zod";
import { defineFault } from "./types.ts";

/** Reset the TCP connection instead of answering: clients see ECONNRESET / "connection reset by peer". */
export const reset = defineFault({
  type: "reset",
  summary: "reset the connection (TCP RST) instead of answering",
  params: z.object({}),
  create: () => ({
    answers: false,
    apply: () => ({ effects: { reset: true } }),
  }),
});
