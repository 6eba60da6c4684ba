import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "docs/examples/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Real-tool tests start servers and daemons; two cores do not like wide parallelism.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
