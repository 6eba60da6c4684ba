import type { Account } from "../../fake-registry/auth/users.ts";
import {
  createRegistry,
  type FakeRegistryOptions,
  type RunningRegistry,
  serveRegistry,
} from "../../fake-registry/index.ts";

/** A fake registry on 127.0.0.1 and a free port; close it in afterAll. */
export async function startRegistry(
  options: FakeRegistryOptions & { host?: string } = {},
): Promise<RunningRegistry> {
  const { host, ...rest } = options;
  return serveRegistry(createRegistry(rest), { host: host ?? "127.0.0.1", port: 0 });
}

export const ALICE: Account = { name: "alice", password: "s3cret", plan: "pro" };

/** Fetches an anonymous (or Basic-authenticated) pull token from the registry's token service. */
export async function pullToken(
  baseUrl: string,
  repository: string,
  credentials?: { user: string; password: string },
  service = "registry.pullstorm.test",
): Promise<string> {
  const url = `${baseUrl}/token?service=${encodeURIComponent(service)}&scope=${encodeURIComponent(`repository:${repository}:pull`)}`;
  const headers: Record<string, string> = {};
  if (credentials)
    headers.authorization = `Basic ${Buffer.from(`${credentials.user}:${credentials.password}`).toString("base64")}`;
  const res = await fetch(url, { headers });
  if (res.status !== 200)
    throw new Error(`token request failed: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { token: string };
  return body.token;
}
