/** Edit distance (insertions, deletions, substitutions, and swaps of neighbours), as commander's own suggestion uses. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number) => d[i]?.[j] ?? 0;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, at(i - 2, j - 2) + 1);
      (d[i] as number[])[j] = best;
    }
  }
  return at(a.length, b.length);
}

/**
 * The candidate a typo most likely meant: the nearest by edit distance, when it
 * is within a third of the word's length (at least 1, at most 3) or one is the
 * other's prefix (dockerhub-2026 -> dockerhub-2020, runtim -> runtime).
 */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  const w = word.toLowerCase();
  let best: { name: string; distance: number } | undefined;
  for (const c of candidates) {
    if (c === word) continue;
    const distance = editDistance(w, c.toLowerCase());
    if (!best || distance < best.distance) best = { name: c, distance };
  }
  if (!best) return undefined;
  const limit = Math.min(3, Math.max(1, Math.floor(w.length / 3)));
  return best.distance <= limit ? best.name : undefined;
}

/** "; did you mean X?" or "", for the end of a message. */
export function suggestion(word: string, candidates: Iterable<string>): string {
  const near = didYouMean(word, candidates);
  return near === undefined ? "" : `; did you mean ${near}?`;
}
