#!/usr/bin/env node
// Entry point, in the repository and (compiled to dist/bin/pullstorm.js) in the
// published package. No static imports: they are linked before any line runs, so
// on an old Node a missing export would end in a stack trace before the check below.
// Plain JavaScript that old Node versions parse (ES2020 and top-level await).
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
// In the repository: the TypeScript sources, run by Node's type stripping. In the
// package, tsc (rewriteRelativeImportExtensions) makes this "../cli/main.js", the build.
await import("../cli/main.ts");
