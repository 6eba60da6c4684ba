// What the check-mirror tests share: the fixtures, a case run both with the
// models and with the real programs, and check-mirror.junit.xml read back.
import { join } from "node:path";
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { expect } from "vitest";
import type { CheckMirrorOptions } from "../../check-mirror/check.ts";
import type { CheckMirrorReport } from "../../check-mirror/types.ts";

export const FIXTURES = join(import.meta.dirname, "..", "fixtures", "check-mirror");
export const fixture = (name: string) => join(FIXTURES, name);

/** A good hosts directory, but containerd's config.toml sets no config_path for the CRI plugin. */
export const CRI_WITHOUT_CONFIG_PATH = {
  runtime: "containerd",
  hostsDir: fixture("certs.d-good"),
  containerdConfig: fixture("containerd-config-no-path.toml"),
  fallback: false,
} satisfies CheckMirrorOptions;

/** What CRI_WITHOUT_CONFIG_PATH comes to: kubelet's pulls read no hosts.toml and go upstream. */
export function expectCriReadsNothing(r: CheckMirrorReport): void {
  expect(r.exitCode).toBe(1);
  expect(r.images[0]?.pull.verdict).toBe("upstream");
  expect(r.findings.map((f) => f.id)).toContain("config-path-missing");
}

export interface JunitCase {
  "@_name": string;
  failure?: unknown;
}

/** Throws on XML that does not validate; otherwise the testcases and the stated failure count. */
export function readCheckJunit(xml: string): { cases: JunitCase[]; failures: number } {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw new Error(`invalid JUnit XML: ${JSON.stringify(valid.err)}`);
  const doc = new XMLParser({ ignoreAttributes: false }).parse(xml);
  return {
    cases: [doc.testsuites.testsuite.testcase].flat(),
    failures: Number(doc.testsuites["@_failures"]),
  };
}
