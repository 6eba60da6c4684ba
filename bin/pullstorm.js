#!/usr/bin/env node
// Entry point. Sources are TypeScript run by Node's own type stripping (Node >= 22.18).
import "../cli/main.ts";
