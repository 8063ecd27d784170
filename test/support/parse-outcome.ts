import { expect } from "vitest";
import { ValidationError } from "../../src/users/errors.js";

/** What a parser answers for `value`: `{ ok: parsed }`, or the ValidationError's field errors and message (anything else fails the test). */
export function parseOutcome(parse: (value: unknown) => unknown, value: unknown): unknown {
  try {
    return { ok: parse(value) };
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return { error: (error as ValidationError).fieldErrors, message: (error as Error).message };
  }
}
