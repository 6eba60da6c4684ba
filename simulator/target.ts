/**
 * The guard in front of `--target`: a game-day tool must not be able to hammer a
 * public registry by accident. Loopback targets are fine; anything else needs
 * both `--allow-remote` and `--max-rps`. Pure: it never resolves or connects.
 */
export type TargetCheck = { ok: true; url: URL; maxRps?: number } | { ok: false; reason: string };

/** localhost, ::1 or 127.0.0.0/8 (brackets allowed): the one loopback test for host names. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  if (h === "localhost" || h === "::1" || h === "0:0:0:0:0:0:0:1") return true;
  if (/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h))
    return h.split(".").every((o) => Number(o) <= 255);
  return false;
}

export function checkTarget(
  target: string,
  options: { allowRemote?: boolean; maxRps?: number },
): TargetCheck {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return {
      ok: false,
      reason: `--target "${target}" is not a URL; write e.g. http://127.0.0.1:5000`,
    };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    return { ok: false, reason: `--target must be http:// or https://, not ${url.protocol}` };
  if (isLoopbackHost(url.hostname))
    return { ok: true, url, ...(options.maxRps ? { maxRps: options.maxRps } : {}) };
  if (!options.allowRemote || !options.maxRps) {
    return {
      ok: false,
      reason: `--target ${url.host} is not on this machine: refusing to send load there. Pass both --allow-remote and --max-rps N if you really mean it (and have the registry owner's permission).`,
    };
  }
  return { ok: true, url, maxRps: options.maxRps };
}
