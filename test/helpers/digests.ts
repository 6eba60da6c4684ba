import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** Every file of a skopeo `dir:` copy named by a digest hashes to that digest; returns how many. */
export function verifyDirCopy(dir: string): number {
  let verified = 0;
  for (const file of readdirSync(dir)) {
    const hex = /^([a-f0-9]{64})(?:\.manifest\.json)?$/.exec(file)?.[1];
    if (!hex) continue;
    const actual = createHash("sha256")
      .update(readFileSync(join(dir, file)))
      .digest("hex");
    if (actual !== hex) throw new Error(`${file} hashes to ${actual}`);
    verified++;
  }
  return verified;
}
