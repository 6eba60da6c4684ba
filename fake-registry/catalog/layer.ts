import { createCipheriv, createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import { pack } from "tar-stream";

/**
 * A layer is a real gzip'd tar, generated from a recipe so it can be thrown away
 * and made again with the same bytes and digest. Payload files are a keystream
 * (AES-CTR over zeros keyed by the recipe), which is incompressible: the
 * compressed size tracks the requested size.
 */
export interface LayerRecipe {
  /** Identifies the content; the same key always gives the same bytes. */
  key: string;
  /** Approximate uncompressed payload size in bytes. */
  size: number;
  /** Small text files placed in the layer (path -> content) for realism. */
  files: Record<string, string>;
  /** Directory for the payload file. */
  payloadDir: string;
  mtime: Date;
}

export interface GeneratedLayer {
  gz: Buffer;
  digest: string;
  /** sha256 of the uncompressed tar: the config's rootfs diff_id. */
  diffId: string;
}

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

export function keystream(key: string, length: number): Buffer {
  const k = createHash("sha256").update(key).digest();
  const cipher = createCipheriv("aes-256-ctr", k, Buffer.alloc(16));
  const stream = cipher.update(Buffer.alloc(length));
  // CTR is a stream mode: final() adds nothing, so no copy to join the two.
  const rest = cipher.final();
  return rest.length === 0 ? stream : Buffer.concat([stream, rest]);
}

async function tarOf(recipe: LayerRecipe): Promise<Buffer> {
  const tar = pack();
  const chunks: Buffer[] = [];
  tar.on("data", (c) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    tar.on("end", () => resolve());
    tar.on("error", reject);
  });
  const header = { mtime: recipe.mtime, uid: 0, gid: 0, uname: "root", gname: "root" };
  const dirs = new Set<string>();
  const addDirs = (path: string) => {
    const parts = path.split("/").slice(0, -1);
    for (let i = 1; i <= parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      if (dir && !dirs.has(dir)) {
        dirs.add(dir);
        tar.entry({ ...header, name: `${dir}/`, type: "directory", mode: 0o755 });
      }
    }
  };
  for (const [path, content] of Object.entries(recipe.files).sort(([a], [b]) =>
    a.localeCompare(b),
  )) {
    addDirs(path);
    tar.entry({ ...header, name: path, mode: 0o644 }, content);
  }
  const payloadPath = `${recipe.payloadDir}/payload.bin`;
  addDirs(payloadPath);
  tar.entry({ ...header, name: payloadPath, mode: 0o644 }, keystream(recipe.key, recipe.size));
  tar.finalize();
  await done;
  return Buffer.concat(chunks);
}

/**
 * The buffer itself if it has its memory to itself, else a copy that does.
 * zlib's output for a small layer is a slice of a 16 KiB chunk cut from
 * Buffer's shared 64 KiB pool: a cached layer would keep all of it alive,
 * unseen by the cache, which counts only the layer's length.
 */
function ownMemory(bytes: Buffer): Buffer {
  if (bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.length) return bytes;
  const own = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(own);
  return own;
}

export async function generateLayer(recipe: LayerRecipe): Promise<GeneratedLayer> {
  const tar = await tarOf(recipe);
  // zlib's gzip header carries no timestamp or name from Node, so equal input gives equal bytes.
  const gz = ownMemory(gzipSync(tar, { level: 1 }));
  return { gz, digest: sha256(gz), diffId: sha256(tar) };
}
