import { readFileSync } from "node:fs";
import { type Document, isMap, isNode, isScalar, LineCounter, parseDocument } from "yaml";
import type { z } from "zod";
import { didYouMean } from "./suggest.ts";

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

export type FieldPath = ReadonlyArray<string | number>;

/** A parsed YAML text that can say where a field is: `file:line:col`. */
export class YamlSource {
  readonly file: string;
  readonly doc: Document;
  private readonly lines = new LineCounter();

  /** Throws ConfigError (with positions) when the text is not well-formed YAML. */
  constructor(text: string, file: string) {
    this.file = file;
    this.doc = parseDocument(text, { lineCounter: this.lines, uniqueKeys: true });
    if (this.doc.errors.length > 0) {
      throw new ConfigError(
        this.doc.errors.map((e) => {
          const pos = e.linePos?.[0];
          return `${file}:${pos ? `${pos.line}:${pos.col}` : "?"}: ${e.message.split("\n")[0]}`;
        }),
      );
    }
  }

  /** The document as plain data. */
  data(): unknown {
    return this.doc.toJS({ maxAliasCount: 100 });
  }

  /**
   * `file:line:col` of the field at `path` (its value), or of its nearest
   * existing parent when it is missing; `key: true` points at the key itself.
   */
  where(path: FieldPath, options: { key?: boolean } = {}): string {
    let offset: number | undefined;
    if (options.key && path.length > 0) {
      const parent =
        path.length === 1 ? this.doc.contents : this.doc.getIn(path.slice(0, -1), true);
      if (isMap(parent)) {
        const name = path.at(-1);
        const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === name);
        if (pair && isNode(pair.key) && pair.key.range) offset = pair.key.range[0];
      }
    }
    for (let depth = path.length; depth >= 0 && offset === undefined; depth--) {
      const node = depth === 0 ? this.doc.contents : this.doc.getIn(path.slice(0, depth), true);
      if (isNode(node) && node.range) offset = node.range[0];
    }
    const pos = offset !== undefined ? this.lines.linePos(offset) : undefined;
    return `${this.file}:${pos ? `${pos.line}:${pos.col}` : "?"}`;
  }

  /** "file:line:col: path: message", the one shape of every problem. */
  problem(path: FieldPath, message: string, options: { key?: boolean } = {}): string {
    const field = path.length > 0 ? path.join(".") : "(top level)";
    return `${this.where(path, options)}: ${field}: ${message}`;
  }
}

/** The definition of a zod schema, as far as the key walk needs it. */
interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  in?: z.ZodType;
  element?: z.ZodType;
  valueType?: z.ZodType;
  options?: z.ZodType[];
  getter?: () => z.ZodType;
}

function defOf(schema: z.ZodType): Def {
  return (schema as unknown as { _zod: { def: Def } })._zod.def;
}

/** Strips defaults, optionals, pipes (transforms) and lazies down to the schema that parses. */
function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  for (let i = 0; i < 32; i++) {
    const def = defOf(s);
    const next =
      def.innerType ?? (def.type === "pipe" ? def.in : def.type === "lazy" ? def.getter?.() : null);
    if (!next) return s;
    s = next;
  }
  return s;
}

/** The object option of a union that fits the data best (most of its keys known). */
function pickOption(options: z.ZodType[], data: unknown): z.ZodType | undefined {
  const keys = data !== null && typeof data === "object" ? Object.keys(data) : [];
  let best: { s: z.ZodType; score: number } | undefined;
  for (const option of options) {
    const s = unwrap(option);
    const shape = defOf(s).shape;
    if (!shape) continue;
    // A discriminator (a literal the data matches) decides; otherwise count known keys.
    let score = keys.filter((k) => k in shape).length;
    for (const [k, v] of Object.entries(shape)) {
      const literal = defOf(unwrap(v)) as Def & { values?: unknown[] };
      if (
        literal.type === "literal" &&
        literal.values?.includes((data as Record<string, unknown>)[k])
      )
        score += 1000;
    }
    if (!best || score > best.score) best = { s, score };
  }
  return best?.s;
}

/** The keys an object at `path` may have, by walking the schema along the data; undefined when unknown. */
export function keysAt(schema: z.ZodType, data: unknown, path: FieldPath): string[] | undefined {
  let s: z.ZodType | undefined = schema;
  let here: unknown = data;
  for (let i = 0; i <= path.length && s; i++) {
    s = unwrap(s);
    const def = defOf(s);
    if (def.type === "union" && def.options) s = pickOption(def.options, here);
    if (!s) return undefined;
    const d = defOf(unwrap(s));
    if (i === path.length) return d.shape ? Object.keys(d.shape) : undefined;
    const part = path[i] as string | number;
    here =
      here !== null && typeof here === "object"
        ? (here as Record<string, unknown>)[part]
        : undefined;
    s = d.shape ? d.shape[String(part)] : (d.element ?? d.valueType);
  }
  return undefined;
}

/**
 * zod's issues as problems, each with `file:line:col` and the field's path. An
 * unknown key is reported at the key's own line with the nearest known key
 * ("fleet.runtim: unknown key; did you mean runtime?").
 */
export function issueProblems(
  source: YamlSource,
  schema: z.ZodType,
  issues: z.core.$ZodIssue[],
): string[] {
  const out: string[] = [];
  const data = source.data();
  const pathOf = (issue: z.core.$ZodIssue) =>
    issue.path.map((p) => (typeof p === "symbol" ? String(p) : p));
  // A missing field that an unknown key was probably meant to be is said once, at the typo.
  const meant = new Set<string>();
  for (const issue of issues) {
    if (issue.code !== "unrecognized_keys") continue;
    const path = pathOf(issue);
    const known = keysAt(schema, data, path) ?? [];
    for (const key of issue.keys) {
      const near = didYouMean(key, known);
      if (near) meant.add([...path, near].join("."));
    }
  }
  const missing = (issue: z.core.$ZodIssue) =>
    issue.code === "invalid_type" && / received undefined$/.test(issue.message);
  for (const issue of issues) {
    const path = pathOf(issue);
    if (missing(issue) && meant.has(path.join("."))) continue;
    if (issue.code === "unrecognized_keys") {
      const known = keysAt(schema, data, path) ?? [];
      for (const key of issue.keys) {
        const near = didYouMean(key, known);
        const hint = near
          ? `; did you mean ${near}?`
          : known.length > 0
            ? ` (keys: ${known.join(", ")})`
            : "";
        out.push(source.problem([...path, key], `unknown key "${key}"${hint}`, { key: true }));
      }
      continue;
    }
    out.push(source.problem(path, issue.message));
  }
  return out;
}

export function parseYaml<S extends z.ZodType>(text: string, file: string, schema: S): z.output<S> {
  const source = new YamlSource(text, file);
  const result = schema.safeParse(source.data());
  if (result.success) return result.data;
  throw new ConfigError(issueProblems(source, schema, result.error.issues));
}
