import { defineConfig } from "vitest/config";

/**
 * Test files that start real programs as child processes (skopeo, ctr and
 * containerd, docker-registry, redis-server, headless Chromium, or the
 * pullstorm CLI itself): the `real` project. Everything else runs in-process
 * and is the `fast` project (`npm run test:fast`). `npm test` runs both.
 */
const REAL = [
  "test/real/**/*.test.ts",
  "docs/examples/**/*.test.ts", // docker-registry as the mirror, when installed
  "test/breakpoint.test.ts", // the CLI
  "test/check-mirror.test.ts", // the CLI
  "test/cli.test.ts", // the CLI
  "test/compose.test.ts", // the CLI's --help
  "test/control-faults.test.ts", // the CLI
  "test/faults.test.ts", // skopeo
  "test/k6-export.test.ts", // the CLI
  "test/quota-store.test.ts", // redis-server
  "test/report-cli.test.ts", // the CLI
  "test/report-html.test.ts", // headless Chromium
];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // One pool for both projects (vitest runs projects with different maxWorkers one
    // after the other): real files mostly wait on child processes (skopeo's backoff,
    // daemons starting, mirrors settling), so the fast files' CPU work fills those
    // waits. Four at once on two cores measured fastest (docs/testing.md).
    maxWorkers: 4,
    projects: [
      {
        extends: true,
        test: {
          name: "fast",
          include: ["test/**/*.test.ts"],
          exclude: REAL,
          // In-process: worker threads start faster than forked processes.
          pool: "threads",
        },
      },
      {
        extends: true,
        test: {
          name: "real",
          include: REAL,
          // Child processes, signals and daemons: each file in its own process.
          pool: "forks",
        },
      },
    ],
  },
});
