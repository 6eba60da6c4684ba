import type { Account } from "../../fake-registry/auth/users.ts";
import { Catalog } from "../../fake-registry/catalog/catalog.ts";
import { ManualClock } from "../../fake-registry/core/clock.ts";
import { FaultSet } from "../../fake-registry/faults/index.ts";
import { parsePolicyDocument } from "../../fake-registry/policy/file.ts";
import type { Policy } from "../../fake-registry/policy/types.ts";
import { Registry } from "../../fake-registry/registry/registry.ts";

/** A registry driven in-process on a manual clock: no network, no sleeping. */
export function inProcessRegistry(
  options: { policy?: unknown; accounts?: Account[]; auth?: boolean; controlToken?: string } = {},
) {
  const clock = new ManualClock();
  let policy: Policy | undefined;
  if (options.policy !== undefined) {
    const built = parsePolicyDocument(options.policy, "dockerhub-2020");
    if ("errors" in built) throw new Error(built.errors.join("\n"));
    policy = built;
  }
  const registry = new Registry({
    catalog: new Catalog({ seed: 1 }),
    clock,
    auth:
      options.auth === false
        ? false
        : { service: "registry.pullstorm.test", accounts: options.accounts ?? [] },
    ...(policy ? { policy } : {}),
    ...(options.controlToken ? { controlToken: options.controlToken } : {}),
    faults: new FaultSet({ seed: 1, clock }),
  });
  const call = async (
    method: string,
    target: string,
    opts: {
      ip?: string;
      token?: string;
      basic?: string;
      headers?: Record<string, string>;
      body?: string;
    } = {},
  ) => {
    const [path = "/", query = ""] = target.split("?");
    const headers: Record<string, string> = { host: "127.0.0.1:5000", ...opts.headers };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (opts.basic) headers.authorization = `Basic ${Buffer.from(opts.basic).toString("base64")}`;
    const handled = await registry.handle(
      {
        method,
        path,
        query: new URLSearchParams(query),
        headers,
        ...(opts.body !== undefined ? { body: opts.body } : {}),
      },
      { ip: opts.ip ?? "127.0.0.1" },
    );
    const body = handled.response.body;
    return { ...handled.response, text: body === undefined ? "" : body.toString(), handled };
  };
  const token = async (repository: string, opts: { ip?: string; basic?: string } = {}) => {
    const res = await call(
      "GET",
      `/token?service=registry.pullstorm.test&scope=repository:${repository}:pull`,
      opts,
    );
    if (res.status !== 200) throw new Error(`token: ${res.status} ${res.text}`);
    return (JSON.parse(res.text) as { token: string }).token;
  };
  return { registry, clock, call, token };
}
