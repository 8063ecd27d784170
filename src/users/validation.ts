import { z } from "zod";
import { ValidationError } from "./errors.js";

/** Limits chosen for this service (LCIC documents none): generous for real names and ids, small enough to refuse abuse. */
export const LIMITS = { name: 64, originId: 128, userId: 64, avatar: 1024 } as const;

// C0/C1 controls, and the bidirectional overrides that can disguise a name in a roster.
const CONTROL = /[\p{Cc}\u202A-\u202E\u2066-\u2069]/u;
// A lone UTF-16 surrogate: JSON allows it, but PostgreSQL and LCIC store U+FFFD instead, so the stored
// originId would differ from the one given and the same request would no longer find its user.
const LONE_SURROGATE = /\p{Cs}/u;
const WELL_FORMED = { message: "must be well-formed Unicode (no lone surrogates)" };

const text = (max: number) =>
  z
    .string()
    .min(1, { message: "must not be empty" })
    .max(max, { message: `must be at most ${max} characters` })
    .refine((s) => !CONTROL.test(s), { message: "must not contain control characters" })
    .refine((s) => !LONE_SURROGATE.test(s), WELL_FORMED)
    .refine((s) => s.trim() === s, { message: "must not start or end with whitespace" });

const sdkAppId = z.number().int().positive({ message: "must be a positive application id" }).max(Number.MAX_SAFE_INTEGER);

const avatar = z
  .string()
  .max(LIMITS.avatar, { message: `must be at most ${LIMITS.avatar} characters` })
  .refine((s) => !CONTROL.test(s), { message: "must not contain control characters" })
  .refine((s) => !LONE_SURROGATE.test(s), WELL_FORMED)
  .refine(
    (s) => {
      try {
        const url = new URL(s);
        return (url.protocol === "https:" || url.protocol === "http:") && url.hostname !== "";
      } catch {
        return false;
      }
    },
    { message: "must be an http(s) URL" },
  );

const registerSchema = z.object({
  sdkAppId: sdkAppId.nullish(),
  name: text(LIMITS.name).nullish(),
  originId: text(LIMITS.originId).nullish(),
  avatar: avatar.nullish(),
  onExisting: z.enum(["RETURN_EXISTING", "FAIL"]).nullish(),
});

const lookupSchema = z
  .object({
    userId: text(LIMITS.userId).nullish(),
    originId: text(LIMITS.originId).nullish(),
    sdkAppId: sdkAppId.nullish(),
  })
  .superRefine((v, ctx) => {
    const given = [v.userId, v.originId].filter((x) => x !== undefined && x !== null).length;
    if (given !== 1) {
      const message = given === 0 ? "give exactly one of userId or originId" : "give only one of userId or originId";
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["userId"], message });
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["originId"], message });
    }
  });

export type RegisterInput = z.infer<typeof registerSchema>;
export type LookupInput = z.infer<typeof lookupSchema>;

function parseOrThrow<T>(schema: z.ZodType<T, z.ZodTypeDef, unknown>, value: unknown, pathPrefix: string[]): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new ValidationError(
    result.error.issues.map((issue) => ({ path: [...pathPrefix, ...issue.path.map(String)], message: issue.message })),
  );
}

export const parseRegisterInput = (value: unknown) => parseOrThrow(registerSchema, value, ["input"]);
export const parseLookup = (value: unknown) => parseOrThrow(lookupSchema, value, []);

/** The field rules of a registration, for use cases that validate registrations their own way (bulk). */
export const registrationFields = { sdkAppId, name: text(LIMITS.name), originId: text(LIMITS.originId), avatar } as const;
