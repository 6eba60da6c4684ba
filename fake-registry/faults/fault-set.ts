import { mulberry32 } from "../../vocabulary/random.ts";
import type { Clock } from "../core/clock.ts";
import type { RegistryResponse } from "../core/types.ts";
import { type CompiledFault, compileFault } from "./spec.ts";
import type {
  FaultContext,
  FaultOutcome,
  FaultScope,
  FaultSpec,
  FaultView,
  TransportEffects,
} from "./types.ts";

export interface FaultSetOptions {
  /** Seed for probability draws and jitter: the same seed and requests give the same faults. */
  seed?: number;
  /** Registry clock, so `list()` can tell which faults are active now. */
  clock?: Clock;
}

export type AddResult = { ok: true; fault: FaultView } | { ok: false; errors: string[] };

interface Entry extends CompiledFault {
  spec: FaultSpec;
  matched: number;
  injected: number;
}

/**
 * The faults in force, in the order they were added. `evaluate` decides, for
 * one classified request, what they do to it:
 *
 * - a fault applies when the request is in its scope, the registry time since
 *   start-up is in its schedule window, and a draw passes its probability;
 * - the first fault that answers (error-burst, outage) supplies the response;
 *   later answering faults are not consulted for that request;
 * - transport effects merge: delays add up, the lowest bandwidth wins, reset
 *   and hang hold if any fault says so.
 */
export class FaultSet {
  private readonly entries = new Map<string, Entry>();
  private readonly random: () => number;
  private readonly clock: Clock | undefined;
  private nextId = 1;
  /** Registry time of the last evaluated request, for `list()` without a clock. */
  private lastElapsedMs = 0;

  constructor(options: FaultSetOptions = {}) {
    this.random = mulberry32(options.seed ?? 1);
    this.clock = options.clock;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Validates and adds a fault spec; ids are "f1", "f2", ... unless the spec names one. */
  add(input: unknown): AddResult {
    const result = compileFault(input);
    if (!result.ok) return result;
    const { compiled } = result;
    if (compiled.id !== undefined && this.entries.has(compiled.id)) {
      return {
        ok: false,
        errors: [`id: a fault with id "${compiled.id}" already exists; remove it first`],
      };
    }
    let id = compiled.id;
    while (id === undefined || this.entries.has(id)) id = `f${this.nextId++}`;
    const entry: Entry = {
      ...compiled,
      id,
      spec: { id, ...compiled.spec },
      matched: 0,
      injected: 0,
    };
    this.entries.set(id, entry);
    return { ok: true, fault: this.view(entry, this.elapsed()) };
  }

  remove(id: string): boolean {
    return this.entries.delete(id);
  }

  clear(): void {
    this.entries.clear();
  }

  get(id: string, elapsedMs?: number): FaultView | undefined {
    const entry = this.entries.get(id);
    return entry ? this.view(entry, this.elapsed(elapsedMs)) : undefined;
  }

  /**
   * Every fault with `active` and counters. `active` is judged at `elapsedMs`
   * (registry ms since start-up), else by the clock, else at the last request seen.
   */
  list(elapsedMs?: number): FaultView[] {
    const at = this.elapsed(elapsedMs);
    return [...this.entries.values()].map((e) => this.view(e, at));
  }

  /** What the faults do to one request; undefined when none applies. */
  evaluate(ctx: FaultContext): FaultOutcome | undefined {
    this.lastElapsedMs = ctx.elapsedMs;
    let response: RegistryResponse | undefined;
    let effects: TransportEffects | undefined;
    for (const entry of this.entries.values()) {
      if (!inScope(entry.scope, ctx) || !inWindow(entry, ctx.elapsedMs)) continue;
      entry.matched++;
      if ((entry.fault.answers && response) || entry.fault.spent?.()) continue;
      if (entry.probability < 1 && this.random() >= entry.probability) continue;
      const outcome = entry.fault.apply(ctx, this.random);
      if (!outcome) continue;
      entry.injected++;
      response ??= outcome.response;
      if (outcome.effects) effects = mergeEffects(effects, outcome.effects);
    }
    if (!response && !effects) return undefined;
    return { ...(response ? { response } : {}), ...(effects ? { effects } : {}) };
  }

  private elapsed(elapsedMs?: number): number {
    if (elapsedMs !== undefined) return elapsedMs;
    if (this.clock) return this.clock.now() - this.clock.startedAt;
    return this.lastElapsedMs;
  }

  private view(entry: Entry, elapsedMs: number): FaultView {
    return {
      ...structuredClone(entry.spec),
      active: inWindow(entry, elapsedMs) && !entry.fault.spent?.(),
      matched: entry.matched,
      injected: entry.injected,
    };
  }
}

/** Delays add up, the lowest bandwidth and the shortest hang win, reset and hang hold if any says so. */
export function mergeEffects(
  a: TransportEffects | undefined,
  b: TransportEffects,
): TransportEffects {
  if (!a) return { ...b };
  const merged: TransportEffects = { ...a };
  if (b.delayMs !== undefined) merged.delayMs = (a.delayMs ?? 0) + b.delayMs;
  if (b.bytesPerSecond !== undefined)
    merged.bytesPerSecond = Math.min(
      a.bytesPerSecond ?? Number.POSITIVE_INFINITY,
      b.bytesPerSecond,
    );
  if (b.reset) merged.reset = true;
  if (b.hang) merged.hang = true;
  if (b.hangMs !== undefined)
    merged.hangMs = Math.min(a.hangMs ?? Number.POSITIVE_INFINITY, b.hangMs);
  return merged;
}

function inWindow(entry: CompiledFault, elapsedMs: number): boolean {
  return elapsedMs >= entry.startMs && elapsedMs < entry.endMs;
}

function inScope(scope: FaultScope | undefined, ctx: FaultContext): boolean {
  if (!scope) return true;
  if (scope.kinds && !scope.kinds.includes(ctx.kind)) return false;
  if (scope.repositories) {
    const repository = ctx.repository;
    if (repository === undefined || !scope.repositories.some((p) => matches(p, repository)))
      return false;
  }
  if (scope.identities) {
    const { key, ip } = ctx.identity;
    if (!scope.identities.some((i) => i === key || i === ip)) return false;
  }
  return true;
}

/** Exact name, or a pattern where `*` matches any run of characters. */
function matches(pattern: string, name: string): boolean {
  if (!pattern.includes("*")) return pattern === name;
  const re = pattern.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"));
  return new RegExp(`^${re.join(".*")}$`).test(name);
}
