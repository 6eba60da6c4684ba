import type { Mark } from "./analysis-types.ts";

/** One marked moment as the reports show it: the copies of every design taken together. */
export interface MarkRow {
  /** The earliest design's simulated seconds. */
  t: number;
  designs: string[];
  action: Mark["action"];
  text: string;
}

/** How the reports name a mark's action. */
export const MARK_ACTION_TEXT: Record<Mark["action"], string> = {
  note: "note",
  fault: "fault injected",
  "fault-cleared": "fault cleared",
  policy: "policy swapped",
  pause: "clock paused",
  resume: "clock resumed",
};

/**
 * The marks of a run, one row per moment: each design has its own copy (its
 * own clock), consecutive in the event stream, so copies with the same action
 * and text within a few simulated seconds of the row's first are one moment.
 */
export function markRows(marks: Mark[], withinSeconds = 5): MarkRow[] {
  const rows: MarkRow[] = [];
  for (const m of marks) {
    const row = rows.findLast(
      (r) =>
        r.action === m.action &&
        r.text === m.text &&
        !r.designs.includes(m.design) &&
        Math.abs(r.t - m.t) <= withinSeconds,
    );
    if (row) {
      row.designs.push(m.design);
      row.t = Math.min(row.t, m.t);
    } else rows.push({ t: m.t, designs: [m.design], action: m.action, text: m.text });
  }
  return rows.sort((a, b) => a.t - b.t);
}
