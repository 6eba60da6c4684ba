import { fileURLToPath } from "node:url";
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
  "test/scenario-import.test.ts", // the CLI, and the three commands through sh
  "test/report-html.test.ts", // headless Chromium
];

/**
 * Live runs that measure the machine run in a project of their own, one file
 * at a time, after the others (vitest runs projects with different maxWorkers
 * one after the other):
 * - those whose verdict includes "the clock kept up": beside four other files
 *   on two cores, mini-churn at x60 lagged 1.1-1.6 s simulated in CI with the
 *   load average under 4 (the process was waiting for a core, not for its own work);
 * - fleet-scale live runs (issue 12): 150 to 180 actors in one process against
 *   a real docker-registry, a minute of wall time each, loading both cores:
 *   beside them, another file's `--time-scale auto` calibrated a busy machine.
 */
const ALONE = [
  "test/real/clock-cli.test.ts",
  "test/real/live-runner.test.ts",
  "test/real/mirror-backends.test.ts",
  "test/real/fleet-scale.test.ts",
  "test/real/mixed-fleet.test.ts",
  // docker-compose.yml for real: the runner's verdict includes "the clock kept up" at x15.
  "test/real/compose-stack.test.ts",
];

export default defineConfig({
  // `import … from "pullstorm"` (docs/examples) means the sources here: the
  // package's exports point at dist/, which only `npm run build` makes.
  resolve: {
    alias: [
      { find: /^pullstorm$/, replacement: fileURLToPath(new URL("./index.ts", import.meta.url)) },
    ],
  },
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
          exclude: ALONE,
          // Child processes, signals and daemons: each file in its own process.
          pool: "forks",
        },
      },
      {
        extends: true,
        test: {
          name: "alone",
          include: ALONE,
          pool: "forks",
          maxWorkers: 1,
        },
      },
    ],
  },
});
