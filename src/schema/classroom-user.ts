import DataLoader from "dataloader";
import type { ClassroomUserRow } from "../users/repository.js";
import type { ClassroomUserReference, RegisterResult } from "../users/service.js";
import { LcicRateLimitedError } from "../users/errors.js";
import { LIMITS } from "../users/validation.js";
import { canRead, type ReadTarget } from "../auth/rules.js";
import { builder, forbidden, type GraphQLContext } from "./builder.js";
import { LOOKUP_ERRORS, REGISTER_ERRORS } from "./errors.js";

export const ClassroomUser = builder.objectRef<ClassroomUserRow>("ClassroomUser").implement({
  // Users' data is for authenticated callers only, also when reached through another subgraph's field.
  authenticated: true,
  description:
    "A student or teacher registered as an LCIC user for one LCIC application. Unique by `userId`, and by (`sdkAppId`, `originId`). A federation entity: other subgraphs refer to it by either key (`userId`, or `sdkAppId` + `originId` when they only know their own id for the user), and this subgraph resolves the rest. Its fields are owned here, so none is `@shareable`.",
  fields: (t) => ({
    userId: t.id({ description: "LCIC's user id (e.g. `2CvDgjRNjylAsBZB4iZc0F6koXe`): pass it to the classroom SDK.", resolve: (u) => u.userId! }),
    sdkAppId: t.exposeInt("sdkAppId", { description: "The LCIC application (SdkAppId) the user belongs to." }),
    originId: t.exposeString("originId", {
      description: "The user's id in your own system, unique within the application. Generated (`cu-…`) when registered without one.",
    }),
    name: t.exposeString("name", { nullable: true, description: "Display name (LCIC nickname) shown in the classroom." }),
    avatar: t.exposeString("avatar", { nullable: true, description: "URL of the user's avatar image." }),
    createdAt: t.expose("createdAt", { type: "DateTime", description: "When this service first stored the user." }),
    updatedAt: t.expose("updatedAt", { type: "DateTime", description: "When this service last changed the stored user (profile or token)." }),
  }),
});

/**
 * One DataLoader per request (keyed on the context object, so server.ts need not know about it):
 * the gateway's `_entities` call for N students becomes one `findByReferences`, i.e. one SQL query.
 */
const referenceLoaders = new WeakMap<object, DataLoader<ClassroomUserReference, ClassroomUserRow | null, string>>();

function referenceLoader(ctx: GraphQLContext) {
  let loader = referenceLoaders.get(ctx);
  if (!loader) {
    loader = new DataLoader((refs) => ctx.users.findByReferences(refs), {
      cacheKeyFn: (ref) => ("userId" in ref ? `u:${ref.userId}` : `o:${ref.sdkAppId}:${ref.originId}`),
    });
    referenceLoaders.set(ctx, loader);
  }
  return loader;
}

/**
 * What the read rule compares with a caller who lacks the read scope. Whose user a userId names is
 * known only from the stored row (read-only: no LCIC call, no write); an unknown userId is refused
 * like someone else's, so existence is not revealed.
 */
async function readTargetOf(ctx: GraphQLContext, lookup: { userId: string | undefined; originId: string | undefined; sdkAppId: number | undefined }): Promise<ReadTarget> {
  const { userId, originId, sdkAppId } = lookup;
  if (userId === undefined) return { originId, sdkAppId };
  const stored = await ctx.users.storedKeyOf(userId);
  return { userId, originId, sdkAppId, storedOriginId: stored?.originId, storedSdkAppId: stored?.sdkAppId };
}

/**
 * `_entities` is a way to read users too, so it follows `classroomUser`'s rule: the read scope, or
 * the caller's own user. Checked per reference before anything is loaded from LCIC.
 */
async function assertMayResolve(ref: ClassroomUserReference, ctx: GraphQLContext): Promise<void> {
  if (ctx.principal.scopes.has(ctx.auth.scopes.read)) return;
  const target = await readTargetOf(
    ctx,
    "userId" in ref ? { userId: ref.userId, originId: undefined, sdkAppId: undefined } : { userId: undefined, originId: ref.originId, sdkAppId: ref.sdkAppId },
  );
  if (!canRead(ctx.principal, target, ctx.auth)) throw forbidden();
}

builder.asEntity(ClassroomUser, {
  key: [builder.selection<{ userId: string }>("userId"), builder.selection<{ sdkAppId: number; originId: string }>("sdkAppId originId")],
  resolveReference: async (ref, ctx) => {
    await assertMayResolve(ref, ctx);
    return referenceLoader(ctx).load(ref);
  },
});

/** `code` of the LcicRateLimitedError a client gets for exceeding its own registration budget. */
export const CLIENT_RATE_LIMITED = "Client.RateLimited";

const RegisterSuccess = builder.objectRef<RegisterResult>("RegisterClassroomUserSuccess").implement({
  description: "The user is registered in LCIC and stored here; use `token` to enter a classroom as them.",
  fields: (t) => ({
    user: t.field({ type: ClassroomUser, description: "The registered user.", resolve: (r) => r.user }),
    token: t.exposeString("token", {
      // A credential: the `credential` tag lets a supergraph contract (e.g. a read-only or public API variant) leave it out.
      tag: "credential",
      description:
        "LCIC login token for this user: a credential. Hand it only to that user's client; never log it. Valid until `tokenExpiresAt` (7 days from issue).",
    }),
    tokenExpiresAt: t.expose("tokenExpiresAt", {
      type: "DateTime",
      description: "When `token` stops working. Always at least an hour away; call again for a fresh token.",
    }),
    requestId: t.string({
      nullable: true,
      description: "LCIC's RequestId of the call that issued the user or token, for support requests to Tencent Cloud.",
      resolve: (r) => r.requestId ?? null,
    }),
    created: t.exposeBoolean("created", {
      description: "True when this service registered the user in LCIC for this originId; false when it already existed.",
    }),
  }),
});

const OnExistingClassroomUser = builder.enumType("OnExistingClassroomUser", {
  description: "What registering an originId that already has a user does.",
  values: {
    RETURN_EXISTING: { description: "Return the existing user with a fresh enough token (`created: false`). Safe for retries." },
    FAIL: { description: "Return `OriginIdExistsError` instead." },
  } as const,
});

const RegisterInput = builder.inputType("RegisterClassroomUserInput", {
  description: "A user to register in LCIC.",
  fields: (t) => ({
    sdkAppId: t.int({ description: "LCIC application; defaults to the service's LCIC_SDK_APP_ID." }),
    name: t.string({ description: `Display name shown in the classroom, 1–${LIMITS.name} characters.` }),
    originId: t.string({
      description: `Your id for this user, 1–${LIMITS.originId} characters, unique within the application. Registering the same originId again returns the same user. Omit it to have one generated.`,
    }),
    avatar: t.string({ description: `Avatar image URL (http or https), at most ${LIMITS.avatar} characters.` }),
    onExisting: t.field({
      type: OnExistingClassroomUser,
      defaultValue: "RETURN_EXISTING",
      description: "What to do when the originId already has a user.",
    }),
  }),
});

builder.mutationType({
  fields: (t) => ({
    registerClassroomUser: t.field({
      type: RegisterSuccess,
      description:
        "Registers a user in LCIC (RegisterUser) and stores it, or returns the user already registered for the originId. Every failure is a typed member of the result union.",
      args: { input: t.arg({ type: RegisterInput, required: true }) },
      errors: { types: [...REGISTER_ERRORS], union: { name: "RegisterClassroomUserResult", description: "The registered user, or why not." } },
      // For a gateway to refuse anonymous calls early. No @requiresScopes: a caller without the
      // register scope may still register themself (subject = originId), which only this subgraph can tell.
      authenticated: true,
      // Checked before the resolver: a refused caller reaches neither LCIC nor the database.
      authScopes: (_root, args) => ({ register: { originId: args.input.originId ?? undefined, sdkAppId: args.input.sdkAppId ?? undefined } }),
      resolve: async (_root, args, ctx) => {
        const budget = await ctx.registrationLimiter.consume(ctx.clientKey);
        if (!budget.allowed) throw new LcicRateLimitedError(CLIENT_RATE_LIMITED, budget.retryAfterMs);
        return ctx.users.register(args.input);
      },
    }),
  }),
});

builder.queryType({
  fields: (t) => ({
    classroomUser: t.field({
      type: ClassroomUser,
      description:
        "Finds a user by `userId`, or by `originId` (within `sdkAppId`, default LCIC_SDK_APP_ID). Give exactly one of the two. Users registered outside this service are fetched from LCIC and stored. Never returns tokens.",
      args: {
        userId: t.arg.id({ description: "LCIC's user id." }),
        originId: t.arg.string({ description: "Your id for the user." }),
        sdkAppId: t.arg.int({ description: "LCIC application for `originId` lookups; defaults to LCIC_SDK_APP_ID." }),
      },
      errors: { types: [...LOOKUP_ERRORS], union: { name: "ClassroomUserResult", description: "The user, or why not." } },
      // As for registration: @authenticated, not @requiresScopes, because of self-service reads.
      authenticated: true,
      authScopes: async (_root, args, ctx) => {
        if (ctx.principal.scopes.has(ctx.auth.scopes.read)) return true;
        return {
          read: await readTargetOf(ctx, {
            userId: args.userId == null ? undefined : String(args.userId),
            originId: args.originId ?? undefined,
            sdkAppId: args.sdkAppId ?? undefined,
          }),
        };
      },
      resolve: (_root, args, ctx) =>
        ctx.users.find({ userId: args.userId == null ? args.userId : String(args.userId), originId: args.originId, sdkAppId: args.sdkAppId }),
    }),
  }),
});
