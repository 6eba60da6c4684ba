/**
 * k6's `--local-ips`, both ways: the design's egress addresses folded into the
 * flag's value, and the address k6 gives a VU (VU n of an instance takes the
 * (n-1)th address, round robin). Pure: the script and the CLI both use it.
 */

function ipNumber(ip: string): number {
  return ip.split(".").reduce((n, o) => n * 256 + Number(o), 0);
}

function ipText(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".");
}

/** The design's egress addresses as `--local-ips`, consecutive addresses folded into ranges, in order. */
export function localIpsArg(ips: string[]): string {
  const parts: string[] = [];
  let start = 0;
  for (let i = 1; i <= ips.length; i++) {
    const prev = ips[i - 1] as string;
    const next = ips[i];
    if (next !== undefined && ipNumber(next) === ipNumber(prev) + 1) continue;
    const first = ips[start] as string;
    parts.push(first === prev ? first : `${first}-${prev}`);
    start = i;
  }
  return parts.join(",");
}

/** The address k6 gives VU `vuInInstance` (1-based) from a `--local-ips` value (ranges, CIDRs, single addresses). */
export function addressOfVu(localIps: string, vuInInstance: number): string | undefined {
  const blocks: Array<{ first: number; count: number }> = [];
  for (const part of localIps.split(",")) {
    const text = part.trim();
    if (!text) continue;
    if (text.includes("/")) {
      const [ip = "", bits = "32"] = text.split("/");
      const size = 2 ** (32 - Number(bits));
      const base = ipNumber(ip) - (ipNumber(ip) % size);
      blocks.push(size > 2 ? { first: base + 1, count: size - 2 } : { first: base, count: size });
    } else if (text.includes("-")) {
      const [a = "", b = ""] = text.split("-");
      blocks.push({ first: ipNumber(a), count: ipNumber(b) - ipNumber(a) + 1 });
    } else blocks.push({ first: ipNumber(text), count: 1 });
  }
  const total = blocks.reduce((n, b) => n + b.count, 0);
  if (total === 0) return undefined;
  let index = (vuInInstance - 1) % total;
  for (const b of blocks) {
    if (index < b.count) return ipText(b.first + index);
    index -= b.count;
  }
  return undefined;
}
