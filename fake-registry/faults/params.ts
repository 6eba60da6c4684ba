import { z } from "zod";
import { durationSchema, sizeSchema } from "../../vocabulary/config/schemas.ts";

/** Shared parameter schemas for fault specs. */

/** "250ms", "90s", "10m", "6h", "1d", or seconds as a number; parsed to milliseconds. */
export const duration = durationSchema();

/** Bytes: a number, or "64KiB", "10MB"; must be above 0. */
export const size = sizeSchema;

/** Milliseconds as a number, up to ten minutes. */
export const millis = z.number().min(0).max(600_000);

/** A 5xx status. */
export const serverErrorStatus = z
  .number()
  .int()
  .min(500, "must be a 5xx status (500 to 599)")
  .max(599, "must be a 5xx status (500 to 599)");
