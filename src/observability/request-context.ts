import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import type { Context as TraceContext } from "@opentelemetry/api";

/**
 * What every log line and span written while serving one HTTP request needs to know about it.
 * Carried by AsyncLocalStorage, so code deep in the service logs with the request id without
 * passing it down (and without knowing about HTTP).
 */
export interface RequestContext {
  requestId: string;
  /** The request's server span's trace id, when tracing is on. */
  traceId?: string;
  /** The OpenTelemetry context of the request's span: the parent of LCIC and SQL spans. */
  trace?: TraceContext;
  /** Who is asking (`sub:<subject>` or `ip:<address>`), once the request is authenticated: for audit events. */
  actor?: string;
  /** LCIC actions that returned a login token while serving this request (token source for audit events). */
  lcicTokenActions?: string[];
}

const storage = new AsyncLocalStorage<RequestContext>();

export function runWithRequestContext<T>(context: RequestContext, fn: () => T): T {
  return storage.run(context, fn);
}

export function currentRequestContext(): RequestContext | undefined {
  return storage.getStore();
}

/** An incoming `x-request-id` we are willing to echo and log: short, printable, no spaces or quotes. */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:\-/+=@]{1,128}$/;

/** The caller's `x-request-id` when sane, otherwise a new UUID. */
export function requestIdFrom(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  return value !== undefined && SANE_REQUEST_ID.test(value) ? value : randomUUID();
}
