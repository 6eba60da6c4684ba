import type { LoginLockout } from "./types.ts";

/**
 * Failed logins at the token service: past `attempts` failures within the
 * window, both the username and the client address are locked out for `lockMs`
 * (docker/hub-feedback #2201: "too many failed login attempts for username or IP address").
 */
export class LoginLockouts {
  private failures = new Map<string, number[]>();
  private lockedUntil = new Map<string, number>();

  /** Registry time until which this username or IP is locked, if it is. */
  lockedUntilFor(keys: string[], now: number): number | undefined {
    let until: number | undefined;
    for (const key of keys) {
      const t = this.lockedUntil.get(key);
      if (t !== undefined && t > now) until = Math.max(until ?? 0, t);
    }
    return until;
  }

  recordFailure(keys: string[], now: number, rule: LoginLockout): void {
    for (const key of keys) {
      const recent = (this.failures.get(key) ?? []).filter((t) => t > now - rule.windowMs);
      recent.push(now);
      this.failures.set(key, recent);
      if (recent.length >= rule.attempts) this.lockedUntil.set(key, now + rule.lockMs);
    }
  }

  reset(): void {
    this.failures.clear();
    this.lockedUntil.clear();
  }
}
