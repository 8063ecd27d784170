import { expect } from "vitest";
import { ValidationError, type FieldError } from "../../src/users/errors.js";

export type ParseOutcome = { ok: unknown } | { error: FieldError[]; message: string };

/** What a parser answers for `value`: `{ ok: parsed }`, or the ValidationError's field errors and message (anything else fails the test). */
export function parseOutcome(parse: (value: unknown) => unknown, value: unknown): ParseOutcome {
  try {
    return { ok: parse(value) };
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return { error: (error as ValidationError).fieldErrors, message: (error as Error).message };
  }
}
