/** Reading configuration files: every problem names the file (as the user wrote it), the line or field, and what is wrong. */
import { readFileSync, statSync } from "node:fs";
import { parse as parseToml, TomlError } from "smol-toml";
import { ConfigError } from "../../vocabulary/config/yaml-file.ts";

export type Table = Record<string, unknown>;

export function readText(file: string): string {
  try {
    const stat = statSync(file);
    if (!stat.isFile()) throw new ConfigError([`${file}: not a file`]);
    return readFileSync(file, "utf8");
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError([
      `${file}: cannot read (${code === "ENOENT" ? "no such file" : (code ?? "unknown error")})`,
    ]);
  }
}

/** Parses TOML; a syntax error becomes `file:line:col: message`. */
export function parseTomlFile(text: string, file: string): Table {
  try {
    return parseToml(text) as Table;
  } catch (error) {
    if (error instanceof TomlError) {
      const message = error.message.replace(/^Invalid TOML document: /, "").split("\n")[0];
      throw new ConfigError([`${file}:${error.line}:${error.column}: ${message}`]);
    }
    throw new ConfigError([`${file}: ${(error as Error).message}`]);
  }
}

export function isTable(value: unknown): value is Table {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A TOML key as it appears in a dotted path: bare when it can be, quoted otherwise. */
export function tomlKey(key: string): string {
  return /^[A-Za-z0-9_-]+$/.test(key) ? key : JSON.stringify(key);
}

/** What a value is, in the words of an error message. */
export function describeValue(value: unknown): string {
  if (Array.isArray(value)) return "a list";
  if (isTable(value)) return "a table";
  if (typeof value === "string") return `"${value}"`;
  return String(value);
}
