import { z } from "zod";
import { duration } from "./params.ts";
import { defineFault } from "./types.ts";

/**
 * Accept the request and never answer, until the client gives up, the server
 * stops, or `closeAfter` passes (then the connection is closed unanswered, as a
 * proxy's idle timeout would).
 */
export const hang = defineFault({
  type: "hang",
  summary: "never answer; hold the connection until the client gives up",
  params: z.object({ closeAfter: duration.optional() }),
  create: ({ closeAfter }) => ({
    answers: false,
    apply: () => ({
      effects: closeAfter === undefined ? { hang: true } : { hang: true, hangMs: closeAfter },
    }),
  }),
});
