/** 130.5 -> "2m10s"; 7200 -> "2h"; 0.4 -> "0.4s". */
export function formatSeconds(seconds: number): string {
  if (seconds < 10 && !Number.isInteger(seconds)) return `${Math.round(seconds * 10) / 10}s`;
  let s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return [h ? `${h}h` : "", m ? `${m}m` : "", s || (!h && !m) ? `${s}s` : ""].join("");
}
