/**
 * A record's own entry for a key that came from outside (a tag, a plan name,
 * a preset name): never one of Object.prototype's (`constructor`, `toString`,
 * `__proto__`), which a plain `record[key]` would find.
 */
export function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}
