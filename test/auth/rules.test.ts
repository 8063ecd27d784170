import { describe, expect, it } from "vitest";
import { resolveAuthConfig } from "../../src/auth/config.js";
import { createAuthenticator, type Principal } from "../../src/auth/jwt.js";
import { canRead, canRegister } from "../../src/auth/rules.js";

const APP = 1400000001;
const OTHER_APP = 1400000002;
const config = { scopes: { register: "classroom-users:register", read: "classroom-users:read", delete: "classroom-users:delete" }, defaultSdkAppId: APP };

function principal(subject: string | undefined, ...scopes: string[]): Principal {
  return { subject, scopes: new Set(scopes), sdkAppId: undefined, anonymous: false, claims: subject ? { sub: subject } : {} };
}

describe("canRegister", () => {
  it("lets a caller with the register scope register anyone, with or without an originId", () => {
    const registrar = principal("service-a", "classroom-users:register");
    expect(canRegister(registrar, { originId: "student-1" }, config)).toBe(true);
    expect(canRegister(registrar, { originId: "service-a" }, config)).toBe(true);
    expect(canRegister(registrar, { originId: undefined }, config)).toBe(true);
  });

  it("lets a self-service caller register only themself", () => {
    const student = principal("student-1");
    expect(canRegister(student, { originId: "student-1" }, config)).toBe(true);
    expect(canRegister(student, { originId: "student-2" }, config)).toBe(false);
    expect(canRegister(student, { originId: "STUDENT-1" }, config)).toBe(false);
  });

  it("refuses a self-service caller who gives no originId", () => {
    expect(canRegister(principal("student-1"), { originId: undefined }, config)).toBe(false);
  });

  it("refuses a caller without a subject unless scoped", () => {
    expect(canRegister(principal(undefined), { originId: "anyone" }, config)).toBe(false);
    expect(canRegister(principal(undefined), { originId: "" }, config)).toBe(false);
    expect(canRegister(principal(""), { originId: "" }, config)).toBe(false);
  });

  it("does not treat the read scope as permission to register", () => {
    expect(canRegister(principal("reader", "classroom-users:read"), { originId: "student-1" }, config)).toBe(false);
  });

  it("uses the configured scope names", () => {
    const custom = { scopes: { register: "users:write", read: "users:read", delete: "classroom-users:delete" } };
    expect(canRegister(principal("x", "users:write"), { originId: "y" }, custom)).toBe(true);
    expect(canRegister(principal("x", "classroom-users:register"), { originId: "y" }, custom)).toBe(false);
  });
});

describe("canRead", () => {
  it("lets a caller with the read scope read anyone, by any identifier", () => {
    const reader = principal("service-b", "classroom-users:read");
    expect(canRead(reader, { originId: "student-1" }, config)).toBe(true);
    expect(canRead(reader, { userId: "u-1" }, config)).toBe(true);
    expect(canRead(reader, {}, config)).toBe(true);
  });

  it("lets a self-service caller read themself by originId", () => {
    expect(canRead(principal("student-1"), { originId: "student-1" }, config)).toBe(true);
    expect(canRead(principal("student-1"), { originId: "student-1", storedOriginId: "student-1" }, config)).toBe(true);
    expect(canRead(principal("student-1"), { originId: "student-2" }, config)).toBe(false);
  });

  it("lets a self-service caller read by userId only once the stored originId proves it is theirs", () => {
    const student = principal("student-1");
    expect(canRead(student, { userId: "u-1" }, config)).toBe(false);
    expect(canRead(student, { userId: "u-1", storedOriginId: "student-1", storedSdkAppId: APP }, config)).toBe(true);
    expect(canRead(student, { userId: "u-2", storedOriginId: "student-2", storedSdkAppId: APP }, config)).toBe(false);
    // The stored application is part of the proof.
    expect(canRead(student, { userId: "u-1", storedOriginId: "student-1" }, config)).toBe(false);
  });

  it("refuses when any identifier points at someone else", () => {
    const student = principal("student-1");
    expect(canRead(student, { originId: "student-1", userId: "u-2", storedOriginId: "student-2" }, config)).toBe(false);
    expect(canRead(student, { originId: "student-2", storedOriginId: "student-1" }, config)).toBe(false);
  });

  it("refuses a target with no identifier, and callers without a subject", () => {
    expect(canRead(principal("student-1"), {}, config)).toBe(false);
    expect(canRead(principal(undefined), { originId: "x" }, config)).toBe(false);
  });

  it("does not treat the register scope as permission to read", () => {
    expect(canRead(principal("registrar", "classroom-users:register"), { originId: "student-1" }, config)).toBe(false);
  });
});

describe("self-service is bound to one application", () => {
  const inApp = (subject: string, sdkAppId: number | undefined): Principal => ({ ...principal(subject), sdkAppId });

  it("a token without the application claim is bound to the default application only", () => {
    const student = inApp("42", undefined);
    expect(canRegister(student, { originId: "42" }, config)).toBe(true);
    expect(canRegister(student, { originId: "42", sdkAppId: APP }, config)).toBe(true);
    expect(canRegister(student, { originId: "42", sdkAppId: OTHER_APP }, config)).toBe(false);
    expect(canRead(student, { originId: "42", sdkAppId: OTHER_APP }, config)).toBe(false);
    expect(canRead(student, { userId: "u", storedOriginId: "42", storedSdkAppId: OTHER_APP }, config)).toBe(false);
    expect(canRead(student, { userId: "u", storedOriginId: "42", storedSdkAppId: APP }, config)).toBe(true);
  });

  it("a token with the claim is bound to the application it names, not the default", () => {
    const student = inApp("42", OTHER_APP);
    expect(canRegister(student, { originId: "42", sdkAppId: OTHER_APP }, config)).toBe(true);
    expect(canRegister(student, { originId: "42" }, config)).toBe(false);
    expect(canRead(student, { originId: "42", sdkAppId: OTHER_APP }, config)).toBe(true);
    expect(canRead(student, { originId: "42", sdkAppId: APP }, config)).toBe(false);
    // By userId, an sdkAppId argument cannot override the stored application.
    expect(canRead(student, { userId: "u", sdkAppId: OTHER_APP, storedOriginId: "42", storedSdkAppId: APP }, config)).toBe(false);
  });

  it("the scopes still reach every application", () => {
    expect(canRegister(inApp("svc", OTHER_APP), { originId: "x", sdkAppId: APP }, { ...config, scopes: { ...config.scopes, register: "r" } })).toBe(false);
    expect(canRegister({ ...inApp("svc", OTHER_APP), scopes: new Set(["classroom-users:register"]) }, { originId: "x", sdkAppId: APP }, config)).toBe(true);
  });
});

describe("AUTH_MODE=none", () => {
  it("allows everything for the anonymous principal", async () => {
    const noneConfig = resolveAuthConfig({}, { host: "127.0.0.1" });
    const anonymous = await createAuthenticator(noneConfig).authenticate(undefined);
    if (!anonymous) throw new Error("expected a principal");
    expect(canRegister(anonymous, { originId: undefined }, noneConfig)).toBe(true);
    expect(canRegister(anonymous, { originId: "anyone" }, noneConfig)).toBe(true);
    expect(canRead(anonymous, { userId: "u-1" }, noneConfig)).toBe(true);
  });
});

describe("canManage (update, token) and canDelete", () => {
  it("the register scope manages anyone; otherwise only oneself, in one's own application, by originId or a loaded userId", async () => {
    const { canDelete, canManage } = await import("../../src/auth/rules.js");
    expect(canManage(principal("x", "classroom-users:register"), { originId: "y" }, config)).toBe(true);
    expect(canManage(principal("ada"), { originId: "ada" }, config)).toBe(true);
    expect(canManage(principal("ada"), { originId: "ada", sdkAppId: OTHER_APP }, config)).toBe(false);
    expect(canManage(principal("ada"), { originId: "bob" }, config)).toBe(false);
    expect(canManage(principal("ada"), { userId: "u1" }, config)).toBe(false);
    expect(canManage(principal("ada"), { userId: "u1", storedOriginId: "ada", storedSdkAppId: APP }, config)).toBe(true);
    // The read scope does not grant changes.
    expect(canManage(principal("x", "classroom-users:read"), { originId: "y" }, config)).toBe(false);
    expect(canDelete(principal("ada", "classroom-users:register", "classroom-users:read"), config)).toBe(false);
    expect(canDelete(principal("x", "classroom-users:delete"), config)).toBe(true);
  });
});
