// events.jsonl's writer: every event one line, byte for byte JSON.stringify's,
// whatever the buffer's size and the characters in the events.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EventLog, linesOf } from "../reports/write.ts";
import type { SimEvent } from "../vocabulary/events.ts";
import { inTempDir } from "./helpers/files.ts";

const event = (i: number, note = ""): SimEvent =>
  ({
    type: "mark",
    t: i / 7,
    design: `d-${i % 3}`,
    note: `${note}${i}`,
  }) as unknown as SimEvent;

describe("EventLog", () => {
  it("writes each event as a line across many flushes, multi-byte characters and a line larger than its buffer included", () =>
    inTempDir("pullstorm-eventlog-", async (dir) => {
      const file = join(dir, "events.jsonl");
      const log = new EventLog(file, { bufferBytes: 256 });
      const events = [
        ...Array.from({ length: 500 }, (_, i) => event(i)),
        event(1, "é→🚀 ünïcode "),
        event(2, "x".repeat(1000)),
        ...Array.from({ length: 50 }, (_, i) => event(i, "ß✓")),
      ];
      for (const e of events) log.write(e);
      log.close();
      log.write(event(9)); // after close: ignored
      const expected = `${events.map((e) => JSON.stringify(e)).join("\n")}\n`;
      expect(readFileSync(file, "utf8")).toBe(expected);
      expect([...linesOf(file)].filter(Boolean).map((l) => JSON.parse(l))).toEqual(events);
    }));

  it("writes nothing for no events, and keeps what it has until closed", () =>
    inTempDir("pullstorm-eventlog-", async (dir) => {
      const file = join(dir, "events.jsonl");
      const log = new EventLog(file);
      expect(readFileSync(file, "utf8")).toBe("");
      log.write(event(1));
      log.close();
      expect(readFileSync(file, "utf8")).toBe(`${JSON.stringify(event(1))}\n`);
    }));
});
