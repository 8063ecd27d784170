import { z } from "zod";
import { ValidationError } from "./errors.js";

/** Limits chosen for this service (LCIC documents none): generous for real names and ids, small enough to refuse abuse. */
export const LIMITS = { name: 64, originId: 128, userId: 64, avatar: 1024 } as const;

const WELL_FORMED = { message: "must be well-formed Unicode (no lone surrogates)" };

// The text rules as whole-string patterns, for z.string().regex(): zod checks those inside its string
// parse. As `.refine()`s they were zod effects, each making a context with bound closures on every
// parse, which V8 kept (with what they reach: the value parsed, in a request the GraphQL arguments)
// through young-generation GCs: ~800 bytes promoted per refined parse in isolation. The issues are the
// same, in the same order, with the same messages (only zod's issue codes differ, and nothing reads
// them: ValidationError keeps paths and messages).
// No C0/C1 controls, nor the bidirectional overrides that can disguise a name in a roster.
const WITHOUT_CONTROL = /^[^\p{Cc}\u202A-\u202E\u2066-\u2069]*$/u;
// No lone UTF-16 surrogate: JSON allows one, but PostgreSQL and LCIC store U+FFFD instead, so the stored
// originId would differ from the one given and the same request would no longer find its user.
const WITHOUT_LONE_SURROGATE = /^\P{Cs}*$/u;
// Nothing String.prototype.trim would remove (trim removes what \s matches).
const WITHOUT_OUTER_WHITESPACE = /^(?:\S(?:[\s\S]*\S)?)?$/;

const text = (max: number) =>
  z
    .string()
    .min(1, { message: "must not be empty" })
    .max(max, { message: `must be at most ${max} characters` })
    .regex(WITHOUT_CONTROL, { message: "must not contain control characters" })
    .regex(WITHOUT_LONE_SURROGATE, WELL_FORMED)
    .regex(WITHOUT_OUTER_WHITESPACE, { message: "must not start or end with whitespace" });

const sdkAppId = z.number().int().positive({ message: "must be a positive application id" }).max(Number.MAX_SAFE_INTEGER);

const avatar = z
  .string()
  .max(LIMITS.avatar, { message: `must be at most ${LIMITS.avatar} characters` })
  .regex(WITHOUT_CONTROL, { message: "must not contain control characters" })
  .regex(WITHOUT_LONE_SURROGATE, WELL_FORMED)
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

/** Exactly one of userId or originId, as `classroomUser` takes them; the issue's "identify" rule for every operation on one user. */
const identifyFields = {
  userId: text(LIMITS.userId).nullish(),
  originId: text(LIMITS.originId).nullish(),
  sdkAppId: sdkAppId.nullish(),
};

/** A rule over a whole input that its fields' schemas cannot state: the issues it finds (none when met). */
type InputRule<T> = (value: T) => Array<{ path: string[]; message: string }>;

/** What a rule returns when it is met: one shared, frozen empty list (rules also run on every lookup). */
const NO_ISSUES: ReturnType<InputRule<unknown>> = Object.freeze([]) as never;

const exactlyOneId: InputRule<{ userId?: unknown; originId?: unknown }> = (v) => {
  const given = (v.userId != null ? 1 : 0) + (v.originId != null ? 1 : 0);
  if (given === 1) return NO_ISSUES;
  const message = given === 0 ? "give exactly one of userId or originId" : "give only one of userId or originId";
  return [
    { path: ["userId"], message },
    { path: ["originId"], message },
  ];
};

/** `rule` as a zod refinement: its issues, as custom issues of the object. */
function refinedBy<T>(fields: z.ZodType<T, z.ZodTypeDef, unknown>, rule: InputRule<T>) {
  return fields.superRefine((value, ctx) => {
    for (const issue of rule(value)) ctx.addIssue({ code: z.ZodIssueCode.custom, ...issue });
  });
}

const lookupSchema = refinedBy(z.object(identifyFields), exactlyOneId);

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

/** `lookupSchema` through zod: what `parseLookup` answers for anything its fast path does not accept. */
export const parseLookupWithZod = (value: unknown) => parseOrThrow(lookupSchema, value, []);

/**
 * A field schema's own checks (string length bounds, patterns and refinements), run without zod's parse
 * machinery: `true` when the value certainly passes the schema; `false` when it does not or when the
 * schema holds anything this does not know (then zod decides, and words the messages).
 *
 * Why: zod 3 builds, for every refinement it runs, a context object with a getter, which V8 cannot
 * give a shared shape. Nine refinements per bulk item made about 5 KB per item that only a full GC
 * frees (measured with the sampling heap profiler: ~550 MB of old-space garbage per 100,000 imported
 * students, the largest part of the server's peak RSS during a roster import, and ~70 ms of CPU per
 * 1,000 items); a lookup's safeParse was ~3% of its CPU. The rules stay those of the schema: these
 * are its very check functions, read from its definition. Used by the bulk path's items and by
 * `parseLookup`. (Since 2026-12-01 the text rules are `regex` checks rather than refinements, for the
 * same reason; the avatar's URL rule is still one.)
 */
export function compileFieldCheck(schema: z.ZodTypeAny): (value: unknown) => boolean {
  const never = () => false;
  let optional = false;
  let nullable = false;
  const refinements: Array<(value: string, ctx: z.RefinementCtx) => unknown> = [];
  let node: z.ZodTypeAny = schema;
  for (;;) {
    if (node instanceof z.ZodOptional) optional = true;
    else if (node instanceof z.ZodNullable) nullable = true;
    else if (node instanceof z.ZodEffects && node._def.effect.type === "refinement") refinements.unshift(node._def.effect.refinement);
    else break;
    node = node instanceof z.ZodEffects ? node._def.schema : (node._def as { innerType: z.ZodTypeAny }).innerType;
  }
  if (!(node instanceof z.ZodString) || node._def.coerce) return never;
  let min = 0;
  let max = Number.POSITIVE_INFINITY;
  const patterns: RegExp[] = [];
  for (const check of node._def.checks) {
    if (check.kind === "min") min = Math.max(min, check.value);
    else if (check.kind === "max") max = Math.min(max, check.value);
    else if (check.kind === "regex") patterns.push(check.regex);
    else return never; // a check this does not know (or one that transforms): zod's call
  }
  // One reusable context: a refinement reports a failure through addIssue.
  let failed = false;
  const ctx = {
    addIssue: () => {
      failed = true;
    },
    path: [] as (string | number)[],
  } satisfies z.RefinementCtx;
  return (value) => {
    if (value === undefined) return optional;
    if (value === null) return nullable;
    if (typeof value !== "string" || value.length < min || value.length > max) return false;
    for (const pattern of patterns) {
      pattern.lastIndex = 0; // as zod does, for a pattern with the g or y flag
      if (!pattern.test(value)) return false;
    }
    failed = false;
    for (const refinement of refinements) {
      const result = refinement(value, ctx);
      if (failed || result instanceof Promise) return false;
    }
    return true;
  };
}

/** `identifyFields`' text fields' own checks, for the lookup's fast path (nullish: absent passes). */
const lookupFieldCheck = { userId: compileFieldCheck(identifyFields.userId), originId: compileFieldCheck(identifyFields.originId) };

/** `sdkAppId`'s rules, for the lookup's fast path. */
function isValidSdkAppId(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value > 0 && value <= Number.MAX_SAFE_INTEGER;
}

/**
 * `classroomUser`'s arguments. Every lookup is parsed, so a valid one is recognised without zod (its
 * safeParse was ~3% of a lookup's CPU); anything else goes through `lookupSchema`, so every error is
 * zod's, as before. The result is zod's too: the schema's keys that were present, nothing else.
 */
export function parseLookup(value: unknown): LookupInput {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return parseLookupWithZod(value);
  const { userId, originId, sdkAppId } = value as Record<string, unknown>;
  const valid =
    exactlyOneId(value as { userId?: unknown; originId?: unknown }).length === 0 &&
    lookupFieldCheck.userId(userId) &&
    lookupFieldCheck.originId(originId) &&
    (sdkAppId == null || isValidSdkAppId(sdkAppId));
  if (!valid) return parseLookupWithZod(value);
  const lookup: LookupInput = {};
  if ("userId" in value) lookup.userId = userId as string | null | undefined;
  if ("originId" in value) lookup.originId = originId as string | null | undefined;
  if ("sdkAppId" in value) lookup.sdkAppId = sdkAppId as number | null | undefined;
  return lookup;
}

/** The field rules of a registration, for use cases that validate registrations their own way (bulk). */
export const registrationFields = { sdkAppId, name: text(LIMITS.name), originId: text(LIMITS.originId), avatar } as const;

const updateFields = z.object({
  ...identifyFields,
  name: text(LIMITS.name).nullish(),
  // "" clears the avatar; anything else must be an http(s) URL as at registration.
  avatar: z.union([z.literal(""), avatar]).nullish(),
});

const updateRule: InputRule<z.infer<typeof updateFields>> = (v) => [
  ...exactlyOneId(v),
  ...(v.name == null && v.avatar == null
    ? [
        { path: ["name"], message: "give name or avatar (or both)" },
        { path: ["avatar"], message: "give name or avatar (or both)" },
      ]
    : []),
];

const deleteFields = z.object(identifyFields);

/** A fresh LCIC token is valid 7 days; asking for more than 6 could never be served from a stored one. */
export const MAX_MIN_VALIDITY_SECONDS = 6 * 24 * 60 * 60;

const tokenFields = z.object({
  ...identifyFields,
  minValiditySeconds: z
    .number()
    .int()
    .min(0, { message: "must not be negative" })
    .max(MAX_MIN_VALIDITY_SECONDS, { message: `must be at most ${MAX_MIN_VALIDITY_SECONDS} (6 days)` })
    .nullish(),
});

export const LIST_MAX_FIRST = 500;

const listSchema = z.object({
  sdkAppId: sdkAppId.nullish(),
  first: z
    .number()
    .int()
    .min(1, { message: `must be between 1 and ${LIST_MAX_FIRST}` })
    .max(LIST_MAX_FIRST, { message: `must be between 1 and ${LIST_MAX_FIRST}` })
    .nullish(),
  after: z.string().max(200, { message: "is not a cursor from this list" }).nullish(),
  filter: z
    .object({
      originIdPrefix: z.string().max(LIMITS.originId, { message: `must be at most ${LIMITS.originId} characters` }).regex(WITHOUT_LONE_SURROGATE, WELL_FORMED).nullish(),
      nameContains: z.string().max(LIMITS.name, { message: `must be at most ${LIMITS.name} characters` }).regex(WITHOUT_LONE_SURROGATE, WELL_FORMED).nullish(),
      updatedSince: z.date({ invalid_type_error: "must be a date-time" }).nullish(),
    })
    .nullish(),
});

export type UpdateInput = z.infer<typeof updateFields>;
export type DeleteInput = z.infer<typeof deleteFields>;
export type TokenInput = z.infer<typeof tokenFields>;
export type ListInput = z.infer<typeof listSchema>;

/**
 * Parses `fields`, then `rule`. Valid input is recognised by `fields` and a direct call of `rule`, and
 * returned as the refined schema would return it (a refinement does not change the value); anything
 * else is parsed by the refined schema (`refinedBy(fields, rule)`), so every error is zod's, as before.
 * The reason: zod 3's superRefine makes a context with bound closures on every parse, and V8 kept each
 * of those contexts, with what it reaches (the parsed value, and in a request the GraphQL arguments),
 * through young-generation GCs: ~800 bytes promoted per parse in isolation, ~2.8 KB per
 * `issueClassroomUserToken` request (README, "The graphql-jit patch"). A plain z.object parse promotes
 * nothing.
 */
function parseRefined<T>(
  fields: z.ZodType<T, z.ZodTypeDef, unknown>,
  rule: InputRule<T>,
  pathPrefix: string[],
): ((value: unknown) => T) & { withZod(value: unknown): T } {
  const refined = refinedBy(fields, rule);
  const withZod = (value: unknown): T => parseOrThrow(refined, value, pathPrefix);
  const parse = (value: unknown): T => {
    const plain = fields.safeParse(value);
    if (plain.success && rule(plain.data).length === 0) return plain.data;
    return withZod(value);
  };
  // The refined schema alone, for tests that hold the two to the same answers.
  return Object.assign(parse, { withZod });
}

export const parseUpdateInput = parseRefined(updateFields, updateRule, ["input"]);
export const parseDeleteInput = parseRefined(deleteFields, exactlyOneId, ["input"]);
export const parseTokenInput = parseRefined(tokenFields, exactlyOneId, ["input"]);
export const parseListInput = (value: unknown) => parseOrThrow(listSchema, value, []);
