// The published package's JavaScript (npm run build, run by `prepack`, so by
// `npm pack` and `npm publish`): tsc compiles the sources into dist/ with
// tsconfig.build.json (`.ts` imports rewritten to `.js`, declarations beside
// them), then the files read at run time beside their module are copied over.
// dist/ is never committed; inside the repository everything runs the sources.
import { spawnSync } from "node:child_process";
import { cpSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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
// tsc rewrites `.ts` imports in the JavaScript but leaves them in the declarations; `.js`
// there too, as in any package, so that every TypeScript version resolves them.
const relativeTs = /(\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)(["'])(\.{1,2}\/[^"']*)\.ts\2/g;
for (const file of readdirSync(dist, { recursive: true, encoding: "utf8" })) {
  if (!file.endsWith(".d.ts")) continue;
  const path = new URL(file, dist);
  const text = readFileSync(path, "utf8");
  const rewritten = text.replace(relativeTs, "$1$2$3.js$2");
  if (rewritten !== text) writeFileSync(path, rewritten);
}
// report.html's own script and styles, read by reports/html.ts as ./html/*.
cpSync(new URL("reports/html/", root), new URL("reports/html/", dist), { recursive: true });
// The live console's page script and styles, read by dashboard/page.ts as ./page/*.
cpSync(new URL("dashboard/page/", root), new URL("dashboard/page/", dist), { recursive: true });
