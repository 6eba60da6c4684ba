import { z } from "zod";
import { parseBandwidth, parseDuration, parseSize } from "./units.ts";

/**
 * The duration and size fields every configuration file shares (scenario,
 * catalog, policy, faults), parsed to milliseconds and bytes with the same
 * messages everywhere.
 */
export function durationSchema(options: { positive?: boolean } = {}) {
  return z
    .union([z.string(), z.number()], {
      error: 'a duration: "250ms", "90s", "10m", "2h" or seconds',
    })
    .transform((v, ctx) => {
      const ms = parseDuration(v);
      if (typeof ms === "number" && (!options.positive || ms > 0)) return ms;
      ctx.addIssue({
        code: "custom",
        message: typeof ms === "number" ? "a duration must be above 0" : ms.error,
      });
      return z.NEVER;
    });
}

/** Bytes: a number, or "64KiB", "10MB", "1GiB"; above 0. */
export const sizeSchema = z
  .union([z.string(), z.number()], { error: 'a size: bytes, or e.g. "64KiB", "10MB", "1GiB"' })
  .transform((v, ctx) => {
    const bytes = parseSize(v);
    if (typeof bytes === "number" && bytes > 0) return bytes;
    ctx.addIssue({
      code: "custom",
      message: typeof bytes === "number" ? "a size must be above 0" : bytes.error,
    });
    return z.NEVER;
  });

/** Bytes per second: a number, or "10Gbit/s", "5Gbps", "100MB/s"; above 0. */
export const bandwidthSchema = z
  .union([z.string(), z.number()], {
    error: 'a bandwidth: bytes per second, or e.g. "10Gbit/s", "5Gbps", "100MB/s"',
  })
  .transform((v, ctx) => {
    const bps = parseBandwidth(v);
    if (typeof bps === "number") return bps;
    ctx.addIssue({ code: "custom", message: bps.error });
    return z.NEVER;
  });
