// A ValidationError's message says which fields are wrong and why (up to three of them), not only how
// many: a caller reading `message` alone (a log line, a GraphiQL answer) knows what to fix.
import { expect, it } from "vitest";
import { ValidationError } from "../../src/users/errors.js";
import { parseRegisterInput, parseUpdateInput } from "../../src/users/validation.js";
import { parseOutcome } from "../support/parse-outcome.js";

/** The refusal `parse` gives `value`: its field errors and message (an acceptance fails the test). */
function refusal(parse: (value: unknown) => unknown, value: unknown) {
  const outcome = parseOutcome(parse, value);
  if (!("error" in outcome)) throw new Error(`accepted: ${JSON.stringify(outcome.ok)}`);
  return { fieldErrors: outcome.error, message: outcome.message };
}

it("one field: its path and why", () => {
  expect(new ValidationError([{ path: ["input", "name"], message: "must not be empty" }]).message).toBe("Invalid input: input.name: must not be empty");
});

it("several fields: each path and why", () => {
  const error = refusal(parseUpdateInput, { originId: "o-1" });
  expect(error.fieldErrors).toHaveLength(2);
  expect(error.message).toBe("Invalid input: input.name: give name or avatar (or both); input.avatar: give name or avatar (or both)");
  const both = refusal(parseRegisterInput, { originId: "", name: " padded", avatar: "not a url" });
  for (const { path, message } of both.fieldErrors) expect(both.message).toContain(`${path.join(".")}: ${message}`);
});

it("many fields: the first three, and how many more are in fieldErrors", () => {
  const fieldErrors = Array.from({ length: 7 }, (_, i) => ({ path: ["input", "users", String(i), "originId"], message: "must not be empty" }));
  expect(new ValidationError(fieldErrors).message).toBe(
    "Invalid input: input.users.0.originId: must not be empty; input.users.1.originId: must not be empty; input.users.2.originId: must not be empty; and 4 more (see fieldErrors)",
  );
});
