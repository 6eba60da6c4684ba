/** IPv4-mapped IPv6 addresses are reported as the IPv4 address the client used. */
export function clientIp(address: string | undefined): string {
  if (!address) return "unknown";
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}
