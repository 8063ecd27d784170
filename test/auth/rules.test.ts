import { describe, expect, it } from "vitest";
import { resolveAuthConfig } from "../../src/auth/config.js";
import { createAuthenticator, type Principal } from "../../src/auth/jwt.js";
import { canRead, canRegister } from "../../src/auth/rules.js";

const config = { scopes: { register: "classroom-users:register", read: "classroom-users:read", delete: "classroom-users:delete" } };

function principal(subject: string | undefined, ...scopes: string[]): Principal {
  return { subject, scopes: new Set(scopes), anonymous: false, claims: subject ? { sub: subject } : {} };
}

describe("canRegister", () => {
  it("lets a caller with the register scope register anyone, with or without an originId", () => {
    const registrar = principal("service-a", "classroom-users:register");
    expect(canRegister(registrar, "student-1", config)).toBe(true);
    expect(canRegister(registrar, "service-a", config)).toBe(true);
    expect(canRegister(registrar, undefined, config)).toBe(true);
  });

  it("lets a self-service caller register only themself", () => {
    const student = principal("student-1");
    expect(canRegister(student, "student-1", config)).toBe(true);
    expect(canRegister(student, "student-2", config)).toBe(false);
    expect(canRegister(student, "STUDENT-1", config)).toBe(false);
  });

  it("refuses a self-service caller who gives no originId", () => {
    expect(canRegister(principal("student-1"), undefined, config)).toBe(false);
  });

  it("refuses a caller without a subject unless scoped", () => {
    expect(canRegister(principal(undefined), "anyone", config)).toBe(false);
    expect(canRegister(principal(undefined), "", config)).toBe(false);
    expect(canRegister(principal(""), "", config)).toBe(false);
  });

  it("does not treat the read scope as permission to register", () => {
    expect(canRegister(principal("reader", "classroom-users:read"), "student-1", config)).toBe(false);
  });

  it("uses the configured scope names", () => {
    const custom = { scopes: { register: "users:write", read: "users:read", delete: "classroom-users:delete" } };
    expect(canRegister(principal("x", "users:write"), "y", custom)).toBe(true);
    expect(canRegister(principal("x", "classroom-users:register"), "y", custom)).toBe(false);
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
    expect(canRead(student, { userId: "u-1", storedOriginId: "student-1" }, config)).toBe(true);
    expect(canRead(student, { userId: "u-2", storedOriginId: "student-2" }, config)).toBe(false);
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

describe("AUTH_MODE=none", () => {
  it("allows everything for the anonymous principal", async () => {
    const noneConfig = resolveAuthConfig({}, { host: "127.0.0.1" });
    const anonymous = await createAuthenticator(noneConfig).authenticate(undefined);
    if (!anonymous) throw new Error("expected a principal");
    expect(canRegister(anonymous, undefined, noneConfig)).toBe(true);
    expect(canRegister(anonymous, "anyone", noneConfig)).toBe(true);
    expect(canRead(anonymous, { userId: "u-1" }, noneConfig)).toBe(true);
  });
});
