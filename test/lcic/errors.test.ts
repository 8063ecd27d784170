// toLcicError on what the SDK really throws: LCIC error envelopes (via the emulator's error
// fault) for the whole code table, and a tiny server answering bodies LCIC should never send.
import http from "node:http";
import { inspect } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { createLcicClient, type LcicClient } from "../../src/lcic/client.js";
import { classifyLcicCode, LCIC_AUTH_MESSAGE, type LcicErrorKind } from "../../src/lcic/errors.js";
import { catchLcicError, startTestLcic } from "../support/lcic.js";

const APP = 1400000001;
const SECRET_KEY = "test-secret-key-never-shown";
const lcic = await startTestLcic({ rateLimits: { RegisterUser: 0 } });

/** A server whose next answer each test chooses. */
let respond: (req: http.IncomingMessage, res: http.ServerResponse) => void = (_req, res) => res.end();
const bad = http.createServer((req, res) => {
  req.resume();
  req.on("end", () => respond(req, res));
});
await new Promise<void>((resolve) => bad.listen(0, "127.0.0.1", resolve));
const badClient: LcicClient = createLcicClient({
  endpoint: `http://127.0.0.1:${(bad.address() as { port: number }).port}`,
  secretId: "AKIDtest",
  secretKey: SECRET_KEY,
  timeoutMs: 500,
});
afterAll(async () => {
  bad.closeAllConnections();
  await new Promise((resolve) => bad.close(resolve));
  await lcic.close();
});

const json = (body: unknown) => (_req: http.IncomingMessage, res: http.ServerResponse) => {
  res.writeHead(200, { "content-type": "application/json" }).end(typeof body === "string" ? body : JSON.stringify(body));
};

type Expectation = [code: string, kind: LcicErrorKind, retryable: boolean, outcomeUnknown: boolean];
const TABLE: Expectation[] = [
  ["FailedOperation", "business", false, false],
  ["FailedOperation.OriginIdExists", "business", false, false],
  ["FailedOperation.UserIsAlreadyInGroup", "business", false, false],
  ["ResourceNotFound", "business", false, false],
  ["ResourceNotFound.User", "business", false, false],
  ["ResourceInUse", "business", false, false],
  ["LimitExceeded", "business", false, false],
  ["OperationDenied", "business", false, false],
  ["UnsupportedOperation", "business", false, false],
  ["UnsupportedOperation.Version", "business", false, false],
  ["InvalidParameter", "invalid_parameter", false, false],
  ["InvalidParameter.SdkAppId", "invalid_parameter", false, false],
  ["InvalidParameterValue", "invalid_parameter", false, false],
  ["InvalidParameterValue.Foo", "invalid_parameter", false, false],
  ["MissingParameter", "invalid_parameter", false, false],
  ["UnknownParameter", "invalid_parameter", false, false],
  ["RequestLimitExceeded", "rate_limited", true, false],
  ["RequestLimitExceeded.UinLimitExceeded", "rate_limited", true, false],
  ["AuthFailure.SignatureFailure", "auth", false, false],
  ["AuthFailure.SecretIdNotFound", "auth", false, false],
  ["UnauthorizedOperation", "auth", false, false],
  ["InvalidAction", "auth", false, false],
  ["NoSuchVersion", "auth", false, false],
  ["UnsupportedRegion", "auth", false, false],
  ["InternalError", "unavailable", true, true],
  ["InternalError.DbError", "unavailable", true, true],
  ["FailedOperation.RequestTimedOut", "unavailable", true, true],
  ["ServiceUnavailable", "unavailable", true, false],
  ["ResourceUnavailable", "unavailable", true, false],
  ["ResourceUnavailable.RoomStatistics", "unavailable", true, false],
  ["SomethingNew.Entirely", "business", false, false],
];

describe("LCIC error answers, through the SDK", () => {
  it.each(TABLE)("%s -> %s (retryable %s, outcomeUnknown %s)", async (code, kind, retryable, outcomeUnknown) => {
    lcic.emulator.injectFault({ mode: "error", code, message: `msg for ${code}`, action: "RegisterUser" });
    const e = await catchLcicError(lcic.client.registerUser({ sdkAppId: APP }));
    // Credential/configuration refusals keep their code, but LCIC's text only in `detail` (for the log).
    const text = kind === "auth" ? { message: LCIC_AUTH_MESSAGE, detail: `msg for ${code}` } : { message: `msg for ${code}`, detail: undefined };
    expect(e).toMatchObject({ code, kind, retryable, outcomeUnknown, ...text, action: "RegisterUser" });
    expect(e.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(classifyLcicCode(code)).toEqual({ kind, retryable, outcomeUnknown });
  });

  it("Network.* codes are unavailable and retryable", () => {
    expect(classifyLcicCode("Network.Timeout")).toEqual({ kind: "unavailable", retryable: true, outcomeUnknown: true });
    expect(classifyLcicCode("Network.ConnectionRefused")).toEqual({ kind: "unavailable", retryable: true, outcomeUnknown: false });
  });
});

describe("bodies LCIC should never send", () => {
  it("a 200 that is not JSON: Lcic.InvalidResponse, and the body (which may hold a token) is not quoted", async () => {
    // JSON.parse quotes the text around the error, here the token; node-fetch copies that message.
    respond = json('{"Response":{"Token":tok-SECRET-VALUE}}');
    const e = await catchLcicError(badClient.loginUser("u"));
    expect(e).toMatchObject({ code: "Lcic.InvalidResponse", kind: "unavailable", outcomeUnknown: true });
    expect(inspect(e)).not.toContain("tok-SECRET-VALUE");
  });

  it("JSON without Response: Lcic.InvalidResponse", async () => {
    respond = json({ hello: "world" });
    expect((await catchLcicError(badClient.loginUser("u"))).code).toBe("Lcic.InvalidResponse");
  });

  it("a success without Token or UserId: Lcic.InvalidResponse with the RequestId", async () => {
    respond = json({ Response: { UserId: "u", RequestId: "req-1" } });
    expect(await catchLcicError(badClient.registerUser({ sdkAppId: APP }))).toMatchObject({
      code: "Lcic.InvalidResponse",
      kind: "unavailable",
      requestId: "req-1",
    });
    respond = json({ Response: { Token: "t", RequestId: "req-2" } });
    expect((await catchLcicError(badClient.loginOriginId({ sdkAppId: APP, originId: "o" }))).code).toBe("Lcic.InvalidResponse");
    respond = json({ Response: { SdkAppId: APP, Name: "n", RequestId: "req-3" } });
    expect((await catchLcicError(badClient.describeUser({ userId: "u" }))).code).toBe("Lcic.InvalidResponse");
    respond = json({ Response: { Users: [], RequestId: "req-4" } });
    expect((await catchLcicError(badClient.describeSdkAppIdUsers({ sdkAppId: APP }))).code).toBe("Lcic.InvalidResponse");
  });

  it("a non-200 with a body: Network.HttpStatus (the SDK ignores the body)", async () => {
    respond = (_req, res) => res.writeHead(500, { "content-type": "application/json" }).end("{}");
    expect(await catchLcicError(badClient.deleteUser("u"))).toMatchObject({
      code: "Network.HttpStatus",
      httpStatus: 500,
      outcomeUnknown: true,
      retryable: true,
    });
  });

  it("headers then a stalled body: Network.Timeout (node-fetch's body-timeout escapes the SDK unwrapped)", async () => {
    respond = (_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.write('{"Response":');
    };
    expect(await catchLcicError(badClient.loginUser("u"))).toMatchObject({ code: "Network.Timeout", outcomeUnknown: true });
  });

  it("a socket closed mid-reply: Network.ConnectionReset", async () => {
    respond = (req) => req.socket.destroy();
    expect((await catchLcicError(badClient.loginUser("u"))).code).toBe("Network.ConnectionReset");
  });

  it("no message, inspect or cause ever shows the secret key", async () => {
    for (const r of [json("nope"), (req: http.IncomingMessage) => req.socket.destroy(), json({ Response: { Error: { Code: "AuthFailure.SignatureFailure", Message: "bad" } } })]) {
      respond = r;
      const e = await catchLcicError(badClient.loginUser("u"));
      expect(inspect(e, { depth: 5 })).not.toContain(SECRET_KEY);
    }
  });
});
