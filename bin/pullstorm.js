#!/usr/bin/env node
// Entry point, in the repository and in the published package alike. No static
// imports: they are linked before any line runs, so on an old Node a missing export
// would end in a stack trace before the check below. Plain JavaScript that old Node
// versions parse (ES2020 and top-level await).
const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `pullstorm needs Node.js 22.18 or newer (this is ${process.versions.node})\n`,
  );
  process.exit(2);
}

// The compile cache (in the OS temp directory; NODE_DISABLE_COMPILE_CACHE=1 turns it off)
// keeps the compiled modules between runs: start-up takes about half as long.
const { enableCompileCache } = await import("node:module");
enableCompileCache?.();

// A checkout runs its TypeScript sources (Node's type stripping): npm start, npm run
// serve, npx pullstorm and node bin/pullstorm.js never see a stale build. The package
// ships no sources, only dist/, the JavaScript `npm pack` built (prepack); Node would
// refuse to strip types under node_modules anyway.
const { existsSync } = await import("node:fs");
const sources = new URL("../cli/main.ts", import.meta.url);
const fromSources = existsSync(sources) && !import.meta.url.includes("/node_modules/");
await import(fromSources ? sources.href : new URL("../dist/cli/main.js", import.meta.url).href);
