// The bulk path's fast field check (users/validation.ts compileFieldCheck) runs the very
// checks of the registration schemas without zod's per-call machinery: whatever it accepts, zod
// accepts; what zod refuses it never accepts (zod then words the messages); typical rows take it.
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { parseBulkInput } from "../../src/users/bulk-registration.js";
import { compileFieldCheck, registrationFields } from "../../src/users/validation.js";

const strings = [
  "s-1", "Student 1", "李雷", "Zoë", "a".repeat(64), "a".repeat(65), "a".repeat(128), "a".repeat(129), "", " ", " lead", "trail ", "tab\tin", "nl\n",
  "\u0000", "bidi\u202Eevil", "iso\u2066late", "lone\uD800", "pair\uD83D\uDE00", "https://example.com/a.png", "http://example.com/", "ftp://example.com/x.png",
  "https://", "not a url", `https://example.com/${"p".repeat(1010)}`, `https://example.com/${"p".repeat(1000)}`, "https://exa mple.com/", "javascript:alert(1)",
];
const values: unknown[] = [...strings, undefined, null, 0, 42, true, {}, [], ["s-1"]];

describe("compileFieldCheck", () => {
  for (const [field, schema] of [
    ["originId", registrationFields.originId],
    ["name", registrationFields.name.nullish()],
    ["avatar", registrationFields.avatar.nullish()],
  ] as const) {
    it(`${field}: accepts nothing zod refuses, and what zod accepts among typical values`, () => {
      const fast = compileFieldCheck(schema);
      for (const value of values) {
        const zodOk = schema.safeParse(value).success;
        if (fast(value)) expect({ value, zodOk }).toEqual({ value, zodOk: true });
        // Every check of these schemas is understood: the fast check is exact, not just safe.
        expect({ value, fast: fast(value) }).toEqual({ value, fast: zodOk });
      }
    });
  }

  it("leaves schemas with checks it does not know to zod (never accepts)", () => {
    expect(compileFieldCheck(z.string().email())("a@example.com")).toBe(false);
    expect(compileFieldCheck(z.string().trim())("x")).toBe(false);
    expect(compileFieldCheck(z.number())(1)).toBe(false);
    expect(compileFieldCheck(z.string().min(2).refine((s) => s !== "no"))("ok")).toBe(true);
    expect(compileFieldCheck(z.string().min(2).refine((s) => s !== "no"))("no")).toBe(false);
  });

  it("parseBulkInput: same items and the same messages with or without the fast path", () => {
    const users = [
      { originId: "s-0", name: "Student 0", avatar: "https://example.com/0.png" },
      { originId: "s-1" },
      { originId: "s-2", name: null, avatar: null },
      { originId: " s-3", name: "x" },
      { originId: "s-4", name: "Ok", avatar: "ftp://example.com/x.png" },
    ];
    expect(() => parseBulkInput({ users })).toThrow();
    try {
      parseBulkInput({ users });
    } catch (error) {
      expect((error as { fieldErrors: unknown }).fieldErrors).toEqual([
        { path: ["input", "users", "3", "originId"], message: "must not start or end with whitespace" },
        { path: ["input", "users", "4", "avatar"], message: "must be an http(s) URL" },
      ]);
    }
    expect(parseBulkInput({ users: users.slice(0, 3) }).users).toEqual([
      { originId: "s-0", name: "Student 0", avatar: "https://example.com/0.png" },
      { originId: "s-1", name: null, avatar: null },
      { originId: "s-2", name: null, avatar: null },
    ]);
  });
});
