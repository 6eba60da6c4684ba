// The published package's JavaScript (npm run build, run by `prepack`, so by
// `npm pack` and `npm publish`): tsc compiles the sources into dist/ with
// tsconfig.build.json (`.ts` imports rewritten to `.js`, declarations beside
// them), then the files read at run time beside their module are copied over.
// dist/ is never committed; inside the repository everything runs the sources.
import { spawnSync } from "node:child_process";
import { cpSync, rmSync } from "node:fs";
import { createRequire } from "node:module";

const root = new URL("../", import.meta.url);
const dist = new URL("dist/", root);

rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
const built = spawnSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], {
  cwd: root,
  stdio: "inherit",
});
if (built.status !== 0) {
  rmSync(dist, { recursive: true, force: true });
  process.exit(built.status ?? 1);
}
// report.html's own script and styles, read by reports/html.ts as ./html/*.
cpSync(new URL("reports/html/", root), new URL("reports/html/", dist), { recursive: true });
