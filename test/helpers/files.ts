import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Runs `use` in a fresh temporary directory, removed afterwards whatever happens. */
export async function inTempDir<T>(
  prefix: string,
  use: (dir: string) => T | Promise<T>,
): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  try {
    return await use(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Writes `lines` (joined with newlines) to `dir`/`name` and returns its path. */
export function fileIn(dir: string, name: string, lines: string | string[]): string {
  const file = join(dir, name);
  writeFileSync(file, Array.isArray(lines) ? lines.join("\n") : lines);
  return file;
}
