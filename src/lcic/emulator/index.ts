/**
 * A local LCIC (2022-08-17) for the eight user actions: a real HTTP server that checks TC3
 * signatures, answers in API 3.0's envelope, enforces per-action rate limits and can be told
 * to misbehave (faults) so that callers' failure handling can be tested end to end.
 *
 * Admin routes under /__emulator/ are unsigned; that is why the default host is loopback.
 */
import { randomUUID } from "node:crypto";
import http, { STATUS_CODES, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { LCIC_ACTIONS, type LcicAction, type LcicUser } from "../client.js";
import { runAction } from "./actions.js";
import { verifyTc3 } from "./signature.js";
import { randomBase62, toLcicUser, UserStore } from "./store.js";

export const LCIC_API_VERSION = "2022-08-17";
export const DEFAULT_SDK_APP_ID = 1400000001;
const DEFAULT_RATE_LIMIT = 20;
/** BatchRegister: 10/s in the SDK's and the doc's description, 20/s in a footer; the stricter one. */
const DEFAULT_RATE_LIMITS: Partial<Record<LcicAction, number>> = { BatchRegister: 10 };
/** Comfortably above a 1000-user BatchRegister with long names and avatar URLs. */
const MAX_BODY_BYTES = 10 * 1024 * 1024;
const ADMIN_PREFIX = "/__emulator/";

export interface EmulatorOptions {
  /** Default 0: a free port. */
  port?: number;
  /** Default 127.0.0.1. The admin routes are unsigned: keep it on loopback. */
  host?: string;
  /** Default: one generated pair. */
  credentials?: Array<{ secretId: string; secretKey: string }>;
  /** Known applications; default [1400000001]. */
  sdkAppIds?: number[];
  /** If set, users are loaded from it at start and saved after each change (temp file + rename). */
  stateFile?: string;
  /** Requests per second per action; default 20, BatchRegister 10; 0 disables. */
  rateLimits?: Partial<Record<LcicAction, number>>;
  /** Clock in ms, for signature expiry and rate-limit windows. */
  now?: () => number;
  /**
   * Request log, one line per request; never contains tokens or keys. Answered API calls end in
   * `<ms>ms`: the emulator's whole time on the request, from its arrival (headers parsed) until the
   * answer was handed to the socket (body read, signature check, the action, the JSON written).
   */
  log?: (line: string) => void;
}

export type FaultSpec = {
  /** Default: every action. */
  action?: LcicAction;
  /** Default 1; Infinity allowed. */
  times?: number;
} & (
  | { mode: "latency"; ms: number }
  | { mode: "error"; code: string; message?: string }
  | { mode: "http"; status: number }
  | { mode: "drop" }
  | { mode: "applyThenDrop" }
  | { mode: "applyThenHttp"; status: number }
);

export interface ActionCounters {
  /** Requests that named this action. */
  calls: number;
  /** Requests LCIC would have executed (state changed, or a read answered). */
  applied: number;
  /** LCIC error answers, RequestLimitExceeded excepted. */
  errors: number;
  /** RequestLimitExceeded answers. */
  rateLimited: number;
}

export interface LcicEmulator {
  readonly url: string;
  readonly port: number;
  /** The first credential pair. */
  readonly credentials: { secretId: string; secretKey: string };
  readonly sdkAppIds: number[];
  injectFault(fault: FaultSpec): void;
  clearFaults(): void;
  /** Injected faults not yet used up by a matching request (of `action`, when given). */
  pendingFaults(action?: LcicAction): number;
  counters(): Record<LcicAction, ActionCounters>;
  resetCounters(): void;
  users(sdkAppId?: number): LcicUser[];
  addSdkAppId(id: number): void;
  /**
   * Puts a user into a group (or takes them out): DeleteUser then answers
   * FailedOperation.UserIsAlreadyInGroup, as LCIC does. Returns false for an unknown user.
   */
  setUserInGroup(userId: string, inGroup: boolean): boolean;
  /**
   * Forget users, faults, counters and rate-limit windows. A request already inside a latency
   * fault still applies when its delay ends, as it would on a real server.
   */
  reset(): void;
  close(): Promise<void>;
}

const isLcicAction = (value: string): value is LcicAction => (LCIC_ACTIONS as readonly string[]).includes(value);

function emptyCounters(): Record<LcicAction, ActionCounters> {
  return Object.fromEntries(
    LCIC_ACTIONS.map((a) => [a, { calls: 0, applied: 0, errors: 0, rateLimited: 0 }]),
  ) as Record<LcicAction, ActionCounters>;
}

/** Check a fault from JSON (admin route) or from code; JSON `times: null` means Infinity. */
export function parseFaultSpec(input: unknown): FaultSpec {
  if (typeof input !== "object" || input === null) throw new TypeError("a fault must be an object");
  const raw = input as Record<string, unknown>;
  const times = raw.times === null ? Infinity : (raw.times ?? 1);
  if (typeof times !== "number" || !(times >= 1)) throw new TypeError("fault.times must be a number >= 1 or null");
  if (raw.action !== undefined && (typeof raw.action !== "string" || !isLcicAction(raw.action))) {
    throw new TypeError(`fault.action must be one of ${LCIC_ACTIONS.join(", ")}`);
  }
  const base = { action: raw.action as LcicAction | undefined, times };
  const status = () => {
    if (typeof raw.status !== "number" || !Number.isInteger(raw.status) || raw.status < 100 || raw.status > 599) {
      throw new TypeError("fault.status must be an HTTP status");
    }
    return raw.status;
  };
  switch (raw.mode) {
    case "latency":
      if (typeof raw.ms !== "number" || !(raw.ms >= 0)) throw new TypeError("fault.ms must be a number >= 0");
      return { ...base, mode: "latency", ms: raw.ms };
    case "error":
      if (typeof raw.code !== "string" || raw.code === "") throw new TypeError("fault.code must be an LCIC error code");
      if (raw.message !== undefined && typeof raw.message !== "string") throw new TypeError("fault.message must be a string");
      return { ...base, mode: "error", code: raw.code, message: raw.message };
    case "http":
      return { ...base, mode: "http", status: status() };
    case "applyThenHttp":
      return { ...base, mode: "applyThenHttp", status: status() };
    case "drop":
    case "applyThenDrop":
      return { ...base, mode: raw.mode };
    default:
      throw new TypeError("fault.mode must be latency, error, http, drop, applyThenDrop or applyThenHttp");
  }
}

type ActiveFault = FaultSpec & { remaining: number };

export async function startLcicEmulator(options: EmulatorOptions = {}): Promise<LcicEmulator> {
  const host = options.host ?? "127.0.0.1";
  const now = options.now ?? Date.now;
  const log = options.log;
  const credentials =
    options.credentials && options.credentials.length > 0
      ? options.credentials.map((c) => ({ ...c }))
      : [{ secretId: `AKIDemu${randomBase62(29)}`, secretKey: randomBase62(32) }];
  const keys = new Map(credentials.map((c) => [c.secretId, c.secretKey]));
  const sdkAppIds = new Set(options.sdkAppIds ?? [DEFAULT_SDK_APP_ID]);
  const rateLimits: Partial<Record<LcicAction, number>> = { ...DEFAULT_RATE_LIMITS, ...options.rateLimits };
  const store = new UserStore(options.stateFile);
  await store.load();

  let faults: ActiveFault[] = [];
  let counters = emptyCounters();
  let windows = new Map<LcicAction, { second: number; count: number }>();
  let closed = false;
  /** Pending latency delays: close() ends them at once instead of waiting. */
  const delays = new Set<() => void>();

  function delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        delays.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      delays.add(done);
    });
  }

  function takeFault(action: LcicAction): FaultSpec | undefined {
    const fault = faults.find((f) => f.remaining > 0 && (f.action === undefined || f.action === action));
    if (!fault) return undefined;
    fault.remaining -= 1;
    faults = faults.filter((f) => f.remaining > 0);
    return fault;
  }

  function overRateLimit(action: LcicAction): boolean {
    const limit = rateLimits[action] ?? DEFAULT_RATE_LIMIT;
    if (limit <= 0) return false;
    const second = Math.floor(now() / 1000);
    const window = windows.get(action);
    if (!window || window.second !== second) {
      windows.set(action, { second, count: 1 });
      return false;
    }
    window.count += 1;
    return window.count > limit;
  }

  function sendJson(res: ServerResponse, status: number, body: unknown, traceId?: string): void {
    const headers: http.OutgoingHttpHeaders = { "content-type": "application/json" };
    if (traceId) headers["x-tc-traceid"] = traceId;
    res.writeHead(status, headers).end(JSON.stringify(body));
  }

  async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY_BYTES) return undefined;
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  }

  async function handleApi(req: IncomingMessage, res: ServerResponse, body: Buffer | undefined, started: number): Promise<void> {
    const traceIdHeader = req.headers["x-tc-traceid"];
    const traceId = typeof traceIdHeader === "string" ? traceIdHeader : undefined;
    const actionHeader = req.headers["x-tc-action"];
    const actionName = typeof actionHeader === "string" ? actionHeader : "";
    const action = isLcicAction(actionName) ? actionName : undefined;
    const count = action ? counters[action] : undefined;
    if (count) count.calls += 1;

    const answer = (data: Record<string, unknown>) => {
      sendJson(res, 200, { Response: { ...data, RequestId: randomUUID() } }, traceId);
    };
    const answerError = (code: string, message: string) => {
      if (count) {
        if (code.startsWith("RequestLimitExceeded")) count.rateLimited += 1;
        else count.errors += 1;
      }
      answer({ Error: { Code: code, Message: message } });
      log?.(`${actionName || "-"} error ${code} ${now() - started}ms`);
    };

    // API 3.0 also takes GET with query parameters; the SDK posts JSON, and that is all we speak.
    if (req.method !== "POST") return answerError("UnsupportedProtocol", "This endpoint only supports POST.");
    if (body === undefined) return answerError("RequestSizeLimitExceeded", "The request body is too large.");
    if (!actionName) return answerError("MissingParameter", "The request is missing a required parameter `Action`.");

    const verdict = verifyTc3({ method: req.method, url: req.url ?? "/", headers: req.headers, body }, (id) => keys.get(id), now());
    if (!verdict.ok) return answerError(verdict.code, verdict.message);
    if (!action) return answerError("InvalidAction", "The request `Action` is invalid or not found.");
    const version = req.headers["x-tc-version"];
    if (version !== LCIC_API_VERSION) {
      return answerError("NoSuchVersion", `The requested version \`${String(version ?? "")}\` of service lcic does not exist.`);
    }
    const contentType = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
    if (contentType !== "application/json") {
      return answerError("UnsupportedProtocol", "This endpoint only supports Content-Type application/json.");
    }

    const fault = takeFault(action);
    if (fault?.mode === "error") {
      return answerError(fault.code, fault.message ?? `Injected ${fault.code}.`);
    } else if (fault?.mode === "http") {
      log?.(`${action} http ${fault.status}`);
      res.writeHead(fault.status, { "content-type": "text/plain" }).end(STATUS_CODES[fault.status] ?? "");
      return;
    } else if (fault?.mode === "drop") {
      log?.(`${action} drop`);
      req.socket.destroy();
      return;
    }

    // LCIC counts a request in the second it arrives and refuses it before doing anything, so a
    // refused request applies nothing, and a slow one (latency fault) counts when it came in.
    if (overRateLimit(action)) return answerError("RequestLimitExceeded", "Your request frequency exceeds the limit.");
    if (fault?.mode === "latency") {
      await delay(fault.ms);
      if (closed) return;
    }

    let params: unknown;
    try {
      params = JSON.parse(body.toString("utf8"));
    } catch {
      return answerError("InvalidParameter", "The request body is not valid JSON.");
    }
    const result = runAction(action, params, { store, sdkAppIds });
    if (result.ok) count!.applied += 1;

    if (fault?.mode === "applyThenDrop") {
      log?.(`${action} applied, then drop`);
      req.socket.destroy();
      return;
    }
    if (fault?.mode === "applyThenHttp") {
      log?.(`${action} applied, then http ${fault.status}`);
      res.writeHead(fault.status, { "content-type": "text/plain" }).end(STATUS_CODES[fault.status] ?? "");
      return;
    }
    if (!result.ok) return answerError(result.code, result.message);
    answer(result.data);
    log?.(`${action} ok ${now() - started}ms`);
  }

  async function handleAdmin(req: IncomingMessage, res: ServerResponse, body: Buffer | undefined): Promise<void> {
    const url = new URL(req.url ?? "/", "http://emulator");
    const route = `${req.method} ${url.pathname}`;
    try {
      switch (route) {
        case "POST /__emulator/faults": {
          const parsed: unknown = JSON.parse(body?.toString("utf8") || "null");
          const specs = (Array.isArray(parsed) ? parsed : [parsed]).map(parseFaultSpec);
          for (const spec of specs) emulator.injectFault(spec);
          return sendJson(res, 200, { faults: faults.length });
        }
        case "DELETE /__emulator/faults":
          emulator.clearFaults();
          return sendJson(res, 200, { faults: 0 });
        case "GET /__emulator/counters":
          return sendJson(res, 200, emulator.counters());
        case "GET /__emulator/users": {
          const raw = url.searchParams.get("sdkAppId");
          const sdkAppId = raw === null || raw === "" ? undefined : Number(raw);
          if (sdkAppId !== undefined && !Number.isSafeInteger(sdkAppId)) throw new TypeError("sdkAppId must be an integer");
          return sendJson(res, 200, { users: emulator.users(sdkAppId) });
        }
        case "POST /__emulator/groups": {
          const parsed = JSON.parse(body?.toString("utf8") || "null") as { userId?: unknown; inGroup?: unknown } | null;
          if (typeof parsed?.userId !== "string" || typeof parsed.inGroup !== "boolean") throw new TypeError("expected {userId: string, inGroup: boolean}");
          if (!emulator.setUserInGroup(parsed.userId, parsed.inGroup)) return sendJson(res, 404, { error: "no such user" });
          return sendJson(res, 200, { userId: parsed.userId, inGroup: parsed.inGroup });
        }
        case "POST /__emulator/reset":
          emulator.reset();
          return sendJson(res, 200, { reset: true });
        default:
          return sendJson(res, 404, { error: `no admin route ${route}` });
      }
    } catch (error) {
      return sendJson(res, 400, { error: error instanceof Error ? error.message : String(error) });
    }
  }

  const server = http.createServer((req, res) => {
    const arrivedAt = now();
    readBody(req)
      .then((body) =>
        (req.url ?? "").startsWith(ADMIN_PREFIX) ? handleAdmin(req, res, body) : handleApi(req, res, body, arrivedAt),
      )
      .catch((error: unknown) => {
        // A bug in the emulator: answer like LCIC's InternalError rather than hang the caller.
        log?.(`emulator failure: ${error instanceof Error ? error.message : String(error)}`);
        if (!res.headersSent) sendJson(res, 200, { Response: { Error: { Code: "InternalError", Message: "Internal error." }, RequestId: randomUUID() } });
        else res.destroy();
      });
  });
  // Longer than client agents' idle time, so a reused keep-alive socket is not closed under them.
  server.keepAliveTimeout = 30_000;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(":") ? `[${host}]` : host;

  const emulator: LcicEmulator = {
    url: `http://${urlHost}:${port}`,
    port,
    credentials: credentials[0]!,
    get sdkAppIds() {
      return [...sdkAppIds];
    },
    injectFault(fault) {
      const spec = parseFaultSpec(fault);
      faults.push({ ...spec, remaining: spec.times ?? 1 });
    },
    clearFaults() {
      faults = [];
    },
    pendingFaults(action) {
      return faults.reduce((n, f) => n + (action === undefined || f.action === undefined || f.action === action ? f.remaining : 0), 0);
    },
    counters() {
      return structuredClone(counters);
    },
    resetCounters() {
      counters = emptyCounters();
    },
    users(sdkAppId) {
      return store.list(sdkAppId).map(toLcicUser);
    },
    addSdkAppId(id) {
      sdkAppIds.add(id);
    },
    setUserInGroup(userId, inGroup) {
      return store.setInGroup(userId, inGroup);
    },
    reset() {
      store.clear();
      faults = [];
      counters = emptyCounters();
      windows = new Map();
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const end of [...delays]) end();
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await done;
      await store.flush();
    },
  };
  return emulator;
}
