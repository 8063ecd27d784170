// classroomUser's arguments are parsed on every lookup without zod when they are valid: the answer
// (the parsed value, or the ValidationError and its field errors) must be zod's for every input.
import { describe, expect, it } from "vitest";
import { LIMITS, parseLookup, parseLookupWithZod } from "../../src/users/validation.js";
import { parseOutcome } from "../support/parse-outcome.js";


const texts = [
  "student-1",
  "",
  " padded",
  "padded ",
  "tab\there",
  "bidi\u202Eoverride",
  "lone\uD800surrogate",
  "pair \uD83D\uDE00 ok",
  "x".repeat(LIMITS.userId),
  "x".repeat(LIMITS.userId + 1),
  "x".repeat(LIMITS.originId),
  "x".repeat(LIMITS.originId + 1),
  "名字",
  42,
  true,
  null,
  undefined,
];
const appIds = [undefined, null, 1, 1400000001, 0, -1, 1.5, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2, Number.NaN, Number.POSITIVE_INFINITY, "1"];

const inputs: unknown[] = [null, undefined, "userId", 7, [], [{ userId: "a" }], {}, { other: "x" }, { userId: "u", extra: 1 }];
for (const text of texts) {
  for (const sdkAppId of appIds) {
    inputs.push({ userId: text, sdkAppId }, { originId: text, sdkAppId }, { userId: text, originId: "o-1", sdkAppId }, { userId: null, originId: text });
  }
}

describe("parseLookup", () => {
  it(`answers as zod does for ${inputs.length} inputs, valid and not`, () => {
    let valid = 0;
    for (const input of inputs) {
      const fast = parseOutcome(parseLookup, input);
      expect(fast, JSON.stringify(input)).toStrictEqual(parseOutcome(parseLookupWithZod, input));
      if ("ok" in (fast as object)) valid++;
    }
    // Both paths are exercised.
    expect(valid).toBeGreaterThan(20);
    expect(inputs.length - valid).toBeGreaterThan(100);
  });

  it("keeps only the schema's keys that were given", () => {
    expect(parseLookup({ originId: "o", extra: 1 })).toStrictEqual({ originId: "o" });
    expect(parseLookup({ userId: "u", originId: null, sdkAppId: undefined })).toStrictEqual({ userId: "u", originId: null, sdkAppId: undefined });
  });
});
