/**
 * TC3-HMAC-SHA256 verification, as LCIC's gateway does it and as the Node SDK signs
 * (see LCIC-NOTES §3). Pure: the caller supplies the clock and the key lookup.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";

/** LCIC accepts a timestamp at most five minutes away from its own clock. */
export const MAX_CLOCK_SKEW_S = 300;

export interface SignedRequest {
  method: string;
  /** Path and query as received, e.g. "/" or "/?a=1". */
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export type VerifyResult =
  | { ok: true; secretId: string; service: string }
  | { ok: false; code: string; message: string };

const AUTH_RE =
  /^TC3-HMAC-SHA256 Credential=([^/\s,]+)\/(\d{4}-\d{2}-\d{2})\/([^/\s,]+)\/tc3_request,\s*SignedHeaders=([a-z0-9;._-]+),\s*Signature=([0-9a-f]{64})$/;

const fail = (code: string, message: string): VerifyResult => ({ ok: false, code, message });

export function sha256Hex(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac("sha256", key).update(data).digest();
}

/** UTC YYYY-MM-DD of a unix timestamp in seconds: the credential scope's date. */
export function utcDate(timestampS: number): string {
  return new Date(timestampS * 1000).toISOString().slice(0, 10);
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(",") : value;
}

/** The signature for one canonical request; exported so tests can sign raw requests the same way. */
export function tc3Signature(input: {
  secretKey: string;
  service: string;
  timestampS: number;
  canonicalRequest: string;
}): string {
  const date = utcDate(input.timestampS);
  const stringToSign = [
    "TC3-HMAC-SHA256",
    String(input.timestampS),
    `${date}/${input.service}/tc3_request`,
    sha256Hex(input.canonicalRequest),
  ].join("\n");
  const kDate = hmac("TC3" + input.secretKey, date);
  const kService = hmac(kDate, input.service);
  const kSigning = hmac(kService, "tc3_request");
  return createHmac("sha256", kSigning).update(stringToSign).digest("hex");
}

export function canonicalRequest(input: {
  method: string;
  url: string;
  signedHeaders: string[];
  headerValue: (name: string) => string;
  body: Buffer;
}): string {
  const queryAt = input.url.indexOf("?");
  const path = queryAt === -1 ? input.url : input.url.slice(0, queryAt);
  const query = queryAt === -1 ? "" : input.url.slice(queryAt + 1);
  const canonicalHeaders = input.signedHeaders.map((h) => `${h}:${input.headerValue(h).trim().toLowerCase()}\n`).join("");
  return [
    input.method.toUpperCase(),
    path || "/",
    query,
    canonicalHeaders,
    input.signedHeaders.join(";"),
    sha256Hex(input.body),
  ].join("\n");
}

export function verifyTc3(
  req: SignedRequest,
  secretKeyFor: (secretId: string) => string | undefined,
  nowMs: number,
): VerifyResult {
  const authorization = header(req.headers, "authorization");
  if (!authorization) return fail("AuthFailure.InvalidAuthorization", "The Authorization header is missing.");
  const m = AUTH_RE.exec(authorization.trim());
  if (!m) {
    return fail("AuthFailure.InvalidAuthorization", "The Authorization header does not follow TC3-HMAC-SHA256.");
  }
  const [, secretId = "", date = "", service = "", signedHeadersText = "", signature = ""] = m;
  const signedHeaders = signedHeadersText.split(";");
  if (!signedHeaders.includes("content-type") || !signedHeaders.includes("host")) {
    return fail("AuthFailure.InvalidAuthorization", "SignedHeaders must include content-type and host.");
  }
  const sorted = [...signedHeaders].sort();
  if (sorted.some((h, i) => h !== signedHeaders[i] || h === signedHeaders[i - 1])) {
    return fail("AuthFailure.InvalidAuthorization", "SignedHeaders must be sorted and unique.");
  }

  const timestampText = header(req.headers, "x-tc-timestamp");
  if (!timestampText || !/^\d{1,12}$/.test(timestampText)) {
    return fail("MissingParameter", "The request is missing a required parameter `Timestamp`.");
  }
  const timestampS = Number(timestampText);

  const secretKey = secretKeyFor(secretId);
  if (secretKey === undefined) {
    return fail("AuthFailure.SecretIdNotFound", "The SecretId is not found, please ensure that your SecretId is correct.");
  }
  if (Math.abs(nowMs / 1000 - timestampS) > MAX_CLOCK_SKEW_S) {
    return fail("AuthFailure.SignatureExpire", "The signature is expired, please request again.");
  }
  // The key is derived from the scope's date, so a scope dated otherwise can never verify.
  if (date !== utcDate(timestampS)) {
    return fail("AuthFailure.SignatureFailure", "The credential scope date does not match X-TC-Timestamp.");
  }
  if (signedHeaders.some((h) => header(req.headers, h) === undefined)) {
    return fail("AuthFailure.SignatureFailure", "A header named in SignedHeaders is absent from the request.");
  }

  // The Node SDK signs the host without the port, the Go SDK with it: accept either.
  const host = header(req.headers, "host") ?? "";
  const hostWithoutPort = host.replace(/:\d+$/, "");
  const expected = Buffer.from(signature, "hex");
  for (const hostValue of new Set([hostWithoutPort, host])) {
    const canonical = canonicalRequest({
      method: req.method,
      url: req.url,
      signedHeaders,
      headerValue: (name) => (name === "host" ? hostValue : (header(req.headers, name) ?? "")),
      body: req.body,
    });
    const actual = Buffer.from(tc3Signature({ secretKey, service, timestampS, canonicalRequest: canonical }), "hex");
    if (timingSafeEqual(actual, expected)) return { ok: true, secretId, service };
  }
  return fail(
    "AuthFailure.SignatureFailure",
    "The provided credentials could not be validated. Please check your signature is correct.",
  );
}
