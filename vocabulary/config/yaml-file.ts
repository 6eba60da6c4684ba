import { readFileSync } from "node:fs";
import { isNode, LineCounter, parseDocument } from "yaml";
import type { z } from "zod";

/** A configuration file that failed to load; each problem names file, line, column and field. */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(problems.join("\n"));
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/**
 * Reads a YAML file and validates it against a zod schema. Errors point at the
 * offending node's line (or its nearest existing parent for a missing field).
 */
export function loadYamlFile<S extends z.ZodType>(file: string, schema: S): z.output<S> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError([`${file}: cannot read (${code ?? "unknown error"})`]);
  }
  return parseYaml(text, file, schema);
}

export function parseYaml<S extends z.ZodType>(text: string, file: string, schema: S): z.output<S> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        return `${file}:${pos ? `${pos.line}:${pos.col}` : "?"}: ${e.message.split("\n")[0]}`;
      }),
    );
  }
  const result = schema.safeParse(doc.toJS({ maxAliasCount: 100 }));
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map((issue) => {
      const path = issue.path.map((p) => (typeof p === "symbol" ? String(p) : p));
      let offset: number | undefined;
      for (let depth = path.length; depth >= 0 && offset === undefined; depth--) {
        const node = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth), true);
        if (isNode(node) && node.range) offset = node.range[0];
      }
      const pos = offset !== undefined ? lineCounter.linePos(offset) : undefined;
      const field = path.length > 0 ? path.join(".") : "(top level)";
      return `${file}:${pos ? `${pos.line}:${pos.col}` : "?"}: ${field}: ${issue.message}`;
    }),
  );
}
