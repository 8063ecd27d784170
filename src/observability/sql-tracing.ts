/**
 * One span per SQL statement sent through a postgres.js client: its operation and table as the name,
 * the statement text (placeholders, never parameter values) as `db.query.text`. Advisory-lock
 * statements are named `lock wait` so the time spent queueing for a registration lock stands out.
 *
 * postgres.js queries are lazy promises: a query runs when first awaited (`handle()`). The span
 * starts there and ends when it settles; observing it with Promise.prototype.then does not run it.
 */
import { SpanKind, SpanStatusCode, type Tracer } from "@opentelemetry/api";
import type postgres from "postgres";
import { parentContext } from "./tracing.js";

interface PendingQuery extends Promise<unknown> {
  strings: readonly string[] | string;
  tagged: boolean;
  executed: boolean;
  handle(): Promise<void>;
}

const isQuery = (value: unknown): value is PendingQuery =>
  value instanceof Promise && typeof (value as Partial<PendingQuery>).handle === "function" && "strings" in value;

const MAX_TEXT = 2000;

export function statementName(text: string): string {
  const lock = /\b(pg_(?:try_)?advisory_(?:xact_)?lock)\b/i.exec(text);
  if (lock) return `lock wait ${lock[1]!.toLowerCase()}`;
  const operation = (/^\s*(\w+)/.exec(text)?.[1] ?? "SQL").toUpperCase();
  const table = /\b(?:from|into|update|join)\s+"?([A-Za-z_][\w.]*)"?/i.exec(text)?.[1];
  return table ? `${operation} ${table}` : operation;
}

function instrument(tracer: Tracer, query: PendingQuery): PendingQuery {
  const handle = query.handle;
  query.handle = function (this: PendingQuery) {
    if (!query.executed) {
      const text = typeof query.strings === "string" ? query.strings : query.strings.map((s, i) => (i === 0 ? s : `$${i}${s}`)).join("");
      const span = tracer.startSpan(
        statementName(text),
        {
          kind: SpanKind.CLIENT,
          attributes: { "db.system.name": "postgresql", "db.system": "postgresql", "db.query.text": text.slice(0, MAX_TEXT) },
        },
        parentContext(),
      );
      Promise.prototype.then.call(
        query,
        () => span.end(),
        (error: unknown) => {
          span.setStatus({ code: SpanStatusCode.ERROR, message: (error as { code?: string }).code ?? (error instanceof Error ? error.name : "error") });
          span.end();
        },
      );
    }
    return handle.call(this);
  };
  return query;
}

/** `sql` with every statement traced; transactions' and savepoints' scoped clients too. */
export function traceSql<T extends postgres.Sql>(sql: T, tracer: Tracer): T {
  const wrapScoped = (args: unknown[]) => args.map((arg) => (typeof arg === "function" ? (scoped: postgres.Sql) => (arg as (s: postgres.Sql) => unknown)(traceSql(scoped, tracer)) : arg));
  return new Proxy(sql, {
    apply(target, thisArg, args) {
      const result: unknown = Reflect.apply(target as unknown as (...a: unknown[]) => unknown, thisArg, args);
      return isQuery(result) ? instrument(tracer, result) : result;
    },
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      if (property === "unsafe") {
        return (...args: unknown[]) => {
          const result: unknown = (value as (...a: unknown[]) => unknown).apply(target, args);
          return isQuery(result) ? instrument(tracer, result) : result;
        };
      }
      if (property === "begin" || property === "savepoint") {
        return (...args: unknown[]) => (value as (...a: unknown[]) => unknown).apply(target, wrapScoped(args));
      }
      return value;
    },
  });
}
