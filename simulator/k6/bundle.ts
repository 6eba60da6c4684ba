import { builtinModules } from "node:module";
import { fileURLToPath } from "node:url";
import { build, type Plugin } from "esbuild";
import type { K6Plan } from "./plan.ts";

/**
 * Bundles the exported k6 script from the project's own TypeScript: the plan
 * player (./player.ts), the actors (simulator/actors) and the pull client
 * (simulator/client), with the k6 adapters (./k6-entry.ts), into one ES module.
 * "k6" and "k6/*" stay imports (k6 provides them); nothing may reach a Node
 * built-in: the build fails on any `node:` import or built-in module name, and
 * the result is checked once more for any other import left unbundled.
 */

// The sources in the repository, the compiled JavaScript (dist/) in the published package.
const EXT = import.meta.url.endsWith(".ts") ? ".ts" : ".js";
export const K6_ENTRY = fileURLToPath(new URL(`./k6-entry${EXT}`, import.meta.url));
export const PLAYER_ENTRY = fileURLToPath(new URL(`./player${EXT}`, import.meta.url));

const BUILTINS = new Set(builtinModules);
const K6_MODULE = /^k6(\/|$)/;

/** Refuses every Node built-in on the import path, naming who imports it. */
export const noNodeBuiltins: Plugin = {
  name: "pullstorm-no-node-builtins",
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) => {
      if (K6_MODULE.test(args.path)) return { path: args.path, external: true };
      if (args.path.startsWith("node:") || BUILTINS.has(args.path))
        return {
          errors: [
            {
              text: `${args.path} is a Node built-in, imported by ${args.importer}: the k6 bundle may only reach pure code`,
            },
          ],
        };
      return undefined;
    });
  },
};

export class BundleError extends Error {}

export interface Bundle {
  code: string;
  /** Source files in the bundle, relative to the project root. */
  inputs: string[];
}

/** Bundles an entry for k6 (or, for the tests, for Node: the same code either way). */
export async function bundle(entry: string, define: Record<string, string> = {}): Promise<Bundle> {
  let result: Awaited<ReturnType<typeof build<{ write: false; metafile: true }>>>;
  try {
    result = await build({
      entryPoints: [entry],
      bundle: true,
      write: false,
      metafile: true,
      platform: "neutral",
      mainFields: ["module", "main"],
      format: "esm",
      // k6's JavaScript runtime (sobek): class fields and newer syntax lowered.
      target: "es2018",
      define,
      plugins: [noNodeBuiltins],
      logLevel: "silent",
      legalComments: "none",
      charset: "utf8",
    });
  } catch (error) {
    const errors = (error as { errors?: Array<{ text: string }> }).errors;
    throw new BundleError(errors ? errors.map((e) => e.text).join("\n") : (error as Error).message);
  }
  const leftover = Object.values(result.metafile.inputs)
    .flatMap((i) => i.imports)
    .filter((i) => i.external && !K6_MODULE.test(i.path) && !i.path.startsWith("<"));
  if (leftover.length > 0)
    throw new BundleError(
      `the k6 bundle imports what k6 does not provide: ${[...new Set(leftover.map((i) => i.path))].join(", ")}`,
    );
  return {
    code: result.outputFiles[0]?.text ?? "",
    inputs: Object.keys(result.metafile.inputs),
  };
}

/** The k6 script for a plan: the k6 entry with the plan written in. */
export async function bundleScript(plan: K6Plan): Promise<Bundle> {
  return bundle(K6_ENTRY, { PULLSTORM_PLAN: JSON.stringify(plan) });
}
