// bench/lib/core-rate.ts, the yardstick of bench:virtual (issue 15): replayed
// whole (every request kept), the core answers the run's requests as the run's
// registry did, class for class, so its rate is measured on the run's own mix.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { measureCoreRate } from "../bench/lib/core-rate.ts";

const FIXTURES = join(import.meta.dirname, "fixtures");
const SCENARIOS = join(import.meta.dirname, "..", "scenarios");

describe("core-rate replay", () => {
  for (const [file, design] of [
    [join(FIXTURES, "mini-churn.yaml"), "anonymous-nat"],
    [join(FIXTURES, "mini-churn.yaml"), "authenticated"],
    [join(SCENARIOS, "ci-fan-out.yaml"), "authenticated-mirror"],
  ] as const) {
    it(`${design}: every request replayed gets the run's answer class for class`, async () => {
      const r = await measureCoreRate(file, design, { every: 1, rounds: 1 });
      expect(r.handled).toBeGreaterThan(0);
      expect(r.sampled).toBe(r.handled);
      expect(r.replayMix).toEqual(r.runMix);
      expect(r.unmatched).toBe(0);
      expect(r.coreHandleRate).toBeGreaterThan(0);
    }, 60_000);
  }

  it("a sample of one request in k still meets the quotas: 429s in the replay when the run had them", async () => {
    const r = await measureCoreRate(join(FIXTURES, "mini-churn.yaml"), "anonymous-nat", {
      every: 3,
      rounds: 1,
    });
    const refused = (mix: Record<string, number>) =>
      Object.entries(mix)
        .filter(([cls]) => cls.endsWith(" 429"))
        .reduce((n, [, c]) => n + c, 0);
    expect(refused(r.runMix)).toBeGreaterThan(0);
    expect(refused(r.replayMix)).toBeGreaterThan(0);
  }, 60_000);
});
