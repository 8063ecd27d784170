/**
 * Reading and checking a roster file for `npm run roster:import`: CSV with a header (columns
 * `originId,name,avatar`, others ignored) or a JSON array of such objects. Every row is checked
 * with the rules the service applies, so bad rows are reported by line before anything is sent.
 */
import { readFile } from "node:fs/promises";
import { parse } from "csv-parse/sync";
import { registrationFields } from "../users/validation.js";

export interface RosterRow {
  /** Where the row is: its line in a CSV file, its 1-based position in a JSON array. */
  line: number;
  originId: string;
  name?: string;
  avatar?: string;
}

export interface RosterProblem {
  line: number;
  message: string;
}

export interface Roster {
  rows: RosterRow[];
  problems: RosterProblem[];
  /** "line" for CSV, "item" for JSON: how problems name a row. */
  unit: "line" | "item";
}

const FIELDS = ["originId", "name", "avatar"] as const;

export async function readRoster(file: string): Promise<Roster> {
  const text = await readFile(file, "utf8");
  const isJson = file.toLowerCase().endsWith(".json") || /^\s*\[/.test(text);
  return isJson ? checkRows(fromJson(text), "item") : checkRows(fromCsv(text), "line");
}

function fromCsv(text: string): Array<{ line: number; values: Record<string, unknown> }> {
  const records = parse(text, {
    columns: (header: string[]) => header.map((h) => h.trim()),
    bom: true,
    info: true,
    skip_empty_lines: true,
    relax_column_count: true,
  }) as Array<{ record: Record<string, string>; info: { lines: number } }>;
  return records.map(({ record, info }) => ({ line: info.lines, values: record }));
}

function fromJson(text: string): Array<{ line: number; values: Record<string, unknown> }> {
  const data: unknown = JSON.parse(text);
  if (!Array.isArray(data)) throw new Error("a JSON roster must be an array of { originId, name, avatar } objects");
  return data.map((values, i) => ({ line: i + 1, values: typeof values === "object" && values !== null ? (values as Record<string, unknown>) : { originId: values } }));
}

function checkRows(raw: Array<{ line: number; values: Record<string, unknown> }>, unit: Roster["unit"]): Roster {
  const rows: RosterRow[] = [];
  const problems: RosterProblem[] = [];
  const seen = new Map<string, number>();
  for (const { line, values } of raw) {
    const row: RosterRow = { line, originId: "" };
    const messages: string[] = [];
    for (const field of FIELDS) {
      let value = values[field];
      // An empty CSV cell is an absent name or avatar (and a missing originId).
      if (value === "" || value === null) value = undefined;
      if (value === undefined) {
        if (field === "originId") messages.push("originId: is required");
        continue;
      }
      const parsed = registrationFields[field].safeParse(value);
      if (!parsed.success) messages.push(`${field}: ${parsed.error.issues[0]!.message}`);
      else row[field] = parsed.data;
    }
    if (row.originId !== "") {
      const first = seen.get(row.originId);
      if (first !== undefined) messages.push(`originId: repeats ${unit} ${first}`);
      else seen.set(row.originId, line);
    }
    if (messages.length > 0) problems.push({ line, message: messages.join("; ") });
    else rows.push(row);
  }
  return { rows, problems, unit };
}

/**
 * Splits rows into requests of at most `maxItems` users and roughly `maxBytes` of JSON, so one
 * request stays within the service's body limit (MAX_BODY_BYTES) even with long avatar URLs.
 */
export function chunkRows(rows: readonly RosterRow[], maxItems: number, maxBytes: number): RosterRow[][] {
  const chunks: RosterRow[][] = [];
  let current: RosterRow[] = [];
  let bytes = 0;
  for (const row of rows) {
    const size = Buffer.byteLength(JSON.stringify({ originId: row.originId, name: row.name, avatar: row.avatar })) + 1;
    if (current.length > 0 && (current.length >= maxItems || bytes + size > maxBytes)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(row);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
