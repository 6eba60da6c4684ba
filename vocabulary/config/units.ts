/** Durations as people write them in scenario, catalog and policy files: "90s", "10m", "6h", "1d", "250ms", or seconds as a number. */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/** Milliseconds, or an error message saying what is wrong. */
export function parseDuration(value: string | number): number | { error: string } {
  if (typeof value === "number") {
    return Number.isFinite(value) && value >= 0
      ? value * 1000
      : { error: `duration ${value} must be a non-negative number of seconds` };
  }
  const m = DURATION_RE.exec(value.trim());
  if (!m)
    return {
      error: `"${value}" is not a duration; write e.g. "250ms", "90s", "10m", "6h" or "1d"`,
    };
  return Number(m[1]) * (UNIT_MS[m[2] as string] as number);
}

export function formatDuration(ms: number): string {
  if (ms % 86_400_000 === 0 && ms > 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};
const SIZE_RE = /^(\d+(?:\.\d+)?)\s*([a-z]+)?$/i;

/** Byte sizes: a number of bytes, or "64KiB", "10MB", "1.5GiB". */
export function parseSize(value: string | number): number | { error: string } {
  if (typeof value === "number") {
    return Number.isInteger(value) && value >= 0
      ? value
      : { error: `size ${value} must be a whole, non-negative number of bytes` };
  }
  const m = SIZE_RE.exec(value.trim());
  const unit = SIZE_UNITS[(m?.[2] ?? "b").toLowerCase()];
  if (!m || unit === undefined)
    return { error: `"${value}" is not a size; write bytes or e.g. "64KiB", "10MB", "1GiB"` };
  return Math.round(Number(m[1]) * unit);
}

const BANDWIDTH_UNITS: Record<string, number> = {
  "bit/s": 1 / 8,
  "kbit/s": 1000 / 8,
  "mbit/s": 1000 ** 2 / 8,
  "gbit/s": 1000 ** 3 / 8,
  bps: 1 / 8,
  kbps: 1000 / 8,
  mbps: 1000 ** 2 / 8,
  gbps: 1000 ** 3 / 8,
  "b/s": 1,
  "kb/s": 1000,
  "mb/s": 1000 ** 2,
  "gb/s": 1000 ** 3,
  "kib/s": 1024,
  "mib/s": 1024 ** 2,
  "gib/s": 1024 ** 3,
};
const BANDWIDTH_RE = /^(\d+(?:\.\d+)?)\s*([a-z/]+)$/i;

/**
 * Bandwidth in bytes per second: a number of bytes per second, or "10Gbit/s",
 * "5Gbps", "100Mbit/s" (bits, as NICs are sold), "200MB/s", "50MiB/s" (bytes).
 */
export function parseBandwidth(value: string | number): number | { error: string } {
  if (typeof value === "number")
    return Number.isFinite(value) && value > 0
      ? value
      : { error: `bandwidth ${value} must be a positive number of bytes per second` };
  const m = BANDWIDTH_RE.exec(value.trim());
  const unit = BANDWIDTH_UNITS[(m?.[2] ?? "").toLowerCase()];
  if (!m || unit === undefined || !(Number(m[1]) > 0))
    return {
      error: `"${value}" is not a bandwidth; write e.g. "10Gbit/s", "5Gbps", "100MB/s" or bytes per second`,
    };
  return Number(m[1]) * unit;
}
