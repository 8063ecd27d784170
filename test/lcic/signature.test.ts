// TC3-HMAC-SHA256 verification. Raw requests are signed with the SDK's own Sign.sign3 (not the
// emulator's code), so a bug shared by signer and verifier cannot hide.
import { afterAll, describe, expect, it } from "vitest";
import SignMod from "tencentcloud-sdk-nodejs/tencentcloud/common/sign.js";
import { createLcicClient } from "../../src/lcic/client.js";
import { startLcicEmulator } from "../../src/lcic/emulator/index.js";
import { canonicalRequest, tc3Signature, utcDate, verifyTc3 } from "../../src/lcic/emulator/signature.js";
import { catchLcicError } from "../support/lcic.js";

type SignClass = typeof SignMod.default;
const Sign: SignClass = typeof SignMod.default === "function" ? SignMod.default : (SignMod as unknown as SignClass);

const APP = 1400000001;
const emulator = await startLcicEmulator({ rateLimits: { RegisterUser: 0, DescribeUser: 0 } });
afterAll(() => emulator.close());
const { secretId, secretKey } = emulator.credentials;

interface RawOptions {
  action?: string;
  version?: string;
  body?: string;
  /** Body actually sent, when it differs from the one signed. */
  sentBody?: string;
  timestampS?: number;
  key?: string;
  id?: string;
  authorization?: (signed: string) => string;
  headers?: Record<string, string>;
}

/** A request signed exactly as the SDK signs, then optionally tampered with: what `raw` sends. */
function signedRequest(options: RawOptions = {}): { url: string; body: string; headers: Record<string, string> } {
  const body = options.body ?? JSON.stringify({ SdkAppId: APP, OriginId: `raw-${Math.random()}` });
  const timestampS = options.timestampS ?? Math.floor(Date.now() / 1000);
  const url = emulator.url + "/";
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  const signed = Sign.sign3({
    method: "POST",
    url,
    payload: Buffer.from(body),
    timestamp: timestampS,
    service: "127",
    secretId: options.id ?? secretId,
    secretKey: options.key ?? secretKey,
    multipart: false,
    boundary: "",
    headers,
  });
  return {
    url,
    body: options.sentBody ?? body,
    headers: {
      ...headers,
      "X-TC-Action": options.action ?? "RegisterUser",
      "X-TC-Version": options.version ?? "2022-08-17",
      "X-TC-Timestamp": String(timestampS),
      Authorization: options.authorization ? options.authorization(signed) : signed,
      ...options.headers,
    },
  };
}

async function raw(options: RawOptions = {}): Promise<{ status: number; headers: Headers; body: any }> {
  const { url, body, headers } = signedRequest(options);
  const response = await fetch(url, { method: "POST", body, headers });
  return { status: response.status, headers: response.headers, body: await response.json() };
}

const code = (r: { body: any }) => r.body?.Response?.Error?.Code as string | undefined;

describe("TC3 signature", () => {
  it("accepts a request signed like the SDK, answering API 3.0's envelope and echoing X-TC-TraceId", async () => {
    const r = await raw({ headers: { "X-TC-TraceId": "trace-123" } });
    expect(r.status).toBe(200);
    expect(r.body.Response).toEqual({ UserId: expect.any(String), Token: expect.any(String), RequestId: expect.any(String) });
    expect(r.headers.get("x-tc-traceid")).toBe("trace-123");
  });

  it("errors are HTTP 200 with Response.Error {Code, Message} and a RequestId", async () => {
    const r = await raw({ key: "wrong" });
    expect(r.status).toBe(200);
    expect(r.body.Response).toEqual({
      Error: { Code: "AuthFailure.SignatureFailure", Message: expect.any(String) },
      RequestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
  });

  it("a body changed after signing fails with SignatureFailure and applies nothing", async () => {
    const before = emulator.users().length;
    const r = await raw({ body: JSON.stringify({ SdkAppId: APP, OriginId: "a" }), sentBody: JSON.stringify({ SdkAppId: APP, OriginId: "b" }) });
    expect(code(r)).toBe("AuthFailure.SignatureFailure");
    expect(emulator.users()).toHaveLength(before);
  });

  it("a modified signature fails with SignatureFailure", async () => {
    const r = await raw({ authorization: (s) => s.replace(/Signature=(.)/, (_, c: string) => `Signature=${c === "0" ? "1" : "0"}`) });
    expect(code(r)).toBe("AuthFailure.SignatureFailure");
  });

  it("a timestamp more than 300 s away fails with SignatureExpire; 300 s is fine", async () => {
    // The exact boundary against a fixed clock: over HTTP the emulator reads its own clock, which a
    // busy machine can move a second or more past the one the request was signed with.
    const nowS = 1_790_000_000;
    const verdict = (timestampS: number) => {
      const { url, body, headers } = signedRequest({ timestampS });
      const { pathname, host } = new URL(url);
      // As node:http hands them over: lower-case names, and the host fetch would add.
      const received = { host, ...Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v])) };
      const verified = verifyTc3({ method: "POST", url: pathname, headers: received, body: Buffer.from(body) }, (id) => (id === secretId ? secretKey : undefined), nowS * 1000);
      return verified.ok ? "ok" : verified.code;
    };
    expect(verdict(nowS - 301)).toBe("AuthFailure.SignatureExpire");
    expect(verdict(nowS + 301)).toBe("AuthFailure.SignatureExpire");
    expect(verdict(nowS - 300)).toBe("ok");
    expect(verdict(nowS + 300)).toBe("ok");
    // And through the emulator's HTTP, with a margin no scheduling delay reaches.
    const now = () => Math.floor(Date.now() / 1000);
    expect(code(await raw({ timestampS: now() - 360 }))).toBe("AuthFailure.SignatureExpire");
    expect(code(await raw({ timestampS: now() + 360 }))).toBe("AuthFailure.SignatureExpire");
    expect(code(await raw({ timestampS: now() - 240 }))).toBeUndefined();
  });

  it("a scope date that is not the timestamp's UTC date fails", async () => {
    const r = await raw({ authorization: (s) => s.replace(/\/\d{4}-\d{2}-\d{2}\//, "/2001-01-01/") });
    expect(code(r)).toBe("AuthFailure.SignatureFailure");
  });

  it("unknown SecretId: SecretIdNotFound", async () => {
    expect(code(await raw({ id: "AKIDnobody" }))).toBe("AuthFailure.SecretIdNotFound");
  });

  it("malformed or missing Authorization: InvalidAuthorization", async () => {
    expect(code(await raw({ authorization: () => "Bearer abc" }))).toBe("AuthFailure.InvalidAuthorization");
    expect(code(await raw({ authorization: (s) => s.replace("SignedHeaders=content-type;host", "SignedHeaders=host") }))).toBe(
      "AuthFailure.InvalidAuthorization",
    );
    const res = await fetch(emulator.url + "/", { method: "POST", body: "{}", headers: { "X-TC-Action": "RegisterUser" } });
    expect(((await res.json()) as any).Response.Error.Code).toBe("AuthFailure.InvalidAuthorization");
  });

  it("accepts the host signed with its port (as the Go SDK signs)", async () => {
    const body = JSON.stringify({ SdkAppId: APP, OriginId: "go-style" });
    const timestampS = Math.floor(Date.now() / 1000);
    const host = new URL(emulator.url).host;
    const canonical = canonicalRequest({
      method: "POST",
      url: "/",
      signedHeaders: ["content-type", "host"],
      headerValue: (h) => (h === "host" ? host : "application/json"),
      body: Buffer.from(body),
    });
    const signature = tc3Signature({ secretKey, service: "lcic", timestampS, canonicalRequest: canonical });
    const r = await raw({
      body,
      timestampS,
      authorization: () =>
        `TC3-HMAC-SHA256 Credential=${secretId}/${utcDate(timestampS)}/lcic/tc3_request, SignedHeaders=content-type;host, Signature=${signature}`,
    });
    expect(code(r)).toBeUndefined();
    expect(r.body.Response.UserId).toMatch(/^[0-9A-Za-z]{27}$/);
  });

  it("a signed body that is not JSON: InvalidParameter; GET: UnsupportedProtocol", async () => {
    expect(code(await raw({ body: "{oops" }))).toBe("InvalidParameter");
    expect(code(await raw({ body: "[1]" }))).toBe("InvalidParameter");
    const res = await fetch(emulator.url + "/?Action=RegisterUser");
    expect(((await res.json()) as any).Response.Error.Code).toBe("UnsupportedProtocol");
  });

  it("unknown action: InvalidAction; wrong version: NoSuchVersion", async () => {
    expect(code(await raw({ action: "CreateRoom" }))).toBe("InvalidAction");
    expect(code(await raw({ version: "2020-01-01" }))).toBe("NoSuchVersion");
  });
});

describe("through the SDK client", () => {
  const config = { endpoint: emulator.url, secretId, secretKey, timeoutMs: 5_000 };

  it("wrong key: AuthFailure.SignatureFailure, kind auth, not retryable", async () => {
    const e = await catchLcicError(createLcicClient({ ...config, secretKey: "not-the-key" }).registerUser({ sdkAppId: APP }));
    expect(e).toMatchObject({ code: "AuthFailure.SignatureFailure", kind: "auth", retryable: false, outcomeUnknown: false });
    expect(e.message).not.toContain("not-the-key");
  });

  it("unknown secret id: AuthFailure.SecretIdNotFound", async () => {
    const e = await catchLcicError(createLcicClient({ ...config, secretId: "AKIDunknown" }).loginUser("u"));
    expect(e).toMatchObject({ code: "AuthFailure.SecretIdNotFound", kind: "auth" });
  });

  it("skewed clock (emulator 301 s ahead): AuthFailure.SignatureExpire", async () => {
    const skewed = await startLcicEmulator({ credentials: [{ secretId, secretKey }], now: () => Date.now() + 301_000 });
    try {
      const client = createLcicClient({ ...config, endpoint: skewed.url });
      const e = await catchLcicError(client.registerUser({ sdkAppId: APP }));
      expect(e).toMatchObject({ code: "AuthFailure.SignatureExpire", kind: "auth", retryable: false });
    } finally {
      await skewed.close();
    }
  });

  it("a second credential pair is accepted too", async () => {
    const two = await startLcicEmulator({ credentials: [{ secretId: "AKID1", secretKey: "k1" }, { secretId: "AKID2", secretKey: "k2" }] });
    try {
      const client = createLcicClient({ ...config, endpoint: two.url, secretId: "AKID2", secretKey: "k2" });
      expect((await client.registerUser({ sdkAppId: APP })).userId).toMatch(/^[0-9A-Za-z]{27}$/);
    } finally {
      await two.close();
    }
  });
});
