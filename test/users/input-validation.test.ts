// The inputs of issueClassroomUserToken, deleteClassroomUser and updateClassroomUser are recognised
// without zod's refinements when they are valid (src/users/validation.ts, parseRefined), and the text
// rules are regular expressions rather than refinements: neither may change an answer. Held here
// against the refined schemas themselves and against the rules as first written.
import { describe, expect, it } from "vitest";
import { ValidationError } from "../../src/users/errors.js";
import { LIMITS, parseDeleteInput, parseListInput, parseRegisterInput, parseTokenInput, parseUpdateInput } from "../../src/users/validation.js";
import { parseOutcome } from "../support/parse-outcome.js";


const texts = ["student-1", "", " padded", "padded ", "tab\there", "bidi\u202Eoverride", "lone\uD800surrogate", "pair \uD83D\uDE00 ok", "x".repeat(LIMITS.originId + 1), "名字", 42, null, undefined];
const avatars = [undefined, null, "", "https://cdn.example.com/a.png", "ftp://x", "https://bad\u0007.example.com", "not a url"];

describe.each([
  ["parseTokenInput", parseTokenInput, [undefined, null, 0, 3600, -1, 1.5, 6 * 24 * 3600 + 1, "60"].map((minValiditySeconds) => ({ minValiditySeconds }))],
  ["parseDeleteInput", parseDeleteInput, [{}, { reason: "x" }]],
  ["parseUpdateInput", parseUpdateInput, [...avatars.map((avatar) => ({ avatar })), ...texts.map((name) => ({ name })), { name: "New", avatar: "" }]],
] as const)("%s", (_, parse, extras) => {
  const inputs: unknown[] = [null, undefined, "x", [], {}];
  for (const text of texts) {
    for (const extra of extras) {
      inputs.push({ userId: text, ...extra }, { originId: text, sdkAppId: 1400000001, ...extra }, { userId: text, originId: "o-1", ...extra }, { userId: null, originId: text, ...extra });
    }
  }

  it(`answers as its refined zod schema does, valid input and not`, () => {
    let valid = 0;
    for (const input of inputs) {
      const answer = parseOutcome(parse, input);
      expect(answer, JSON.stringify(input)).toStrictEqual(parseOutcome(parse.withZod, input));
      if ("ok" in (answer as object)) valid++;
    }
    expect(valid).toBeGreaterThan(5);
    expect(inputs.length - valid).toBeGreaterThan(20);
  });
});

describe("text rules", () => {
  // As first written: `.refine((s) => !CONTROL.test(s))`, `!LONE_SURROGATE.test(s)`, `s.trim() === s`.
  const CONTROL = /[\p{Cc}\u202A-\u202E\u2066-\u2069]/u;
  const LONE_SURROGATE = /\p{Cs}/u;
  const expectedMessages = (s: string) => [
    ...(CONTROL.test(s) ? ["must not contain control characters"] : []),
    ...(LONE_SURROGATE.test(s) ? ["must be well-formed Unicode (no lone surrogates)"] : []),
    ...(s.trim() !== s ? ["must not start or end with whitespace"] : []),
  ];
  const messagesFor = (originId: string) => {
    try {
      parseRegisterInput({ originId });
      return [];
    } catch (error) {
      return (error as ValidationError).fieldErrors.filter((e) => e.path.join(".") === "input.originId").map((e) => e.message);
    }
  };

  it("every UTF-16 code unit, at the start, the end and inside a value: the same field errors, in the same order", () => {
    let refused = 0;
    for (let unit = 0; unit <= 0xffff; unit++) {
      const c = String.fromCharCode(unit);
      for (const value of [c, `${c}x`, `x${c}`, `x${c}y`]) {
        const expected = expectedMessages(value);
        const got = messagesFor(value);
        // A plain comparison first: expect() on 260,000 values is slow.
        if (got.length !== expected.length || got.some((m, i) => m !== expected[i])) expect(got, JSON.stringify(value)).toEqual(expected);
        if (expected.length > 0) refused++;
      }
    }
    expect(refused).toBeGreaterThan(2048 * 4); // the surrogates alone
  });

  it("surrogate pairs are well-formed; several faults are all reported, in order", () => {
    expect(messagesFor("\uD83D\uDE00")).toEqual([]);
    expect(messagesFor("\uDE00\uD83D")).toEqual(["must be well-formed Unicode (no lone surrogates)"]);
    expect(messagesFor(" \u0007\uD800")).toEqual(["must not contain control characters", "must be well-formed Unicode (no lone surrogates)", "must not start or end with whitespace"]);
    expect(messagesFor("")).toEqual(["must not be empty"]);
    expect(messagesFor(` ${"x".repeat(LIMITS.originId)}`)).toEqual([`must be at most ${LIMITS.originId} characters`, "must not start or end with whitespace"]);
  });

  it("the list filter's strings: well-formed Unicode, as before", () => {
    for (const field of ["originIdPrefix", "nameContains"]) {
      expect(parseListInput({ filter: { [field]: "pair \uD83D\uDE00" } })).toEqual({ filter: { [field]: "pair \uD83D\uDE00" } });
      expect(parseOutcome(parseListInput, { filter: { [field]: "lone\uDC00" } })).toEqual({
        error: [{ path: ["filter", field], message: "must be well-formed Unicode (no lone surrogates)" }],
        message: `Invalid input: filter.${field}: must be well-formed Unicode (no lone surrogates)`,
      });
      expect(parseListInput({ filter: { [field]: "" } })).toEqual({ filter: { [field]: "" } }); // empty: no filter, as before
    }
  });
});
