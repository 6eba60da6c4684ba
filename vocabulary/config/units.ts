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
