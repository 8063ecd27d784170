import { readTargetOf } from "./authorization.js";
import { builder } from "./builder.js";
import { ClassroomUser } from "./classroom-user.js";
import { LOOKUP_ERRORS } from "./errors.js";

builder.queryField("classroomUser", (t) =>
  t.field({
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
    // Synchronous for a reader (the common case): the scope plugin then adds no promise of its own.
    authScopes: (_root, args, ctx) => {
      if (ctx.principal.scopes.has(ctx.auth.scopes.read)) return true;
      return readTargetOf(ctx, {
        userId: args.userId == null ? undefined : String(args.userId),
        originId: args.originId ?? undefined,
        sdkAppId: args.sdkAppId ?? undefined,
      }).then((read) => ({ read }));
    },
    resolve: (_root, args, ctx) =>
      ctx.users.find({ userId: args.userId == null ? args.userId : String(args.userId), originId: args.originId, sdkAppId: args.sdkAppId }, { clientKey: ctx.clientKey }),
  }),
);
