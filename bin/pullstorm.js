#!/usr/bin/env node
// Entry point. Sources are TypeScript run by Node's own type stripping (Node >= 22.18).
// The compile cache (in the OS temp directory; NODE_DISABLE_COMPILE_CACHE=1 turns it off)
// keeps the stripped and compiled modules between runs: start-up takes about half as long.
import { enableCompileCache } from "node:module";

enableCompileCache?.();
await import("../cli/main.ts");
