// Preloaded into a benchmarked child (`node --import ./bench/lib/child-usage.ts ...`): when the
// child exits it writes its own peak RSS and CPU time, from getrusage(2), as JSON to the file
// named by PULLSTORM_BENCH_USAGE. Exact where polling /proc from outside would miss the peak.
import { writeFileSync } from "node:fs";

export interface ChildUsage {
  /** getrusage's ru_maxrss: the largest resident set the process had, KiB. */
  maxRssKiB: number;
  userSeconds: number;
  systemSeconds: number;
}

const file = process.env.PULLSTORM_BENCH_USAGE;
if (file) {
  process.on("exit", () => {
    const u = process.resourceUsage();
    const usage: ChildUsage = {
      maxRssKiB: u.maxRSS,
      userSeconds: u.userCPUTime / 1e6,
      systemSeconds: u.systemCPUTime / 1e6,
    };
    writeFileSync(file, JSON.stringify(usage));
  });
}
