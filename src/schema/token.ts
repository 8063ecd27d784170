import { DEFAULT_MIN_VALIDITY_SECONDS, type IssuedToken } from "../users/token-issue.js";
import { MAX_MIN_VALIDITY_SECONDS } from "../users/validation.js";
import { builder } from "./builder.js";
import { ClassroomUser } from "./classroom-user.js";
import { manageTarget, USER_OPERATION_ERRORS } from "./lifecycle.js";

const TokenInput = builder.inputType("IssueClassroomUserTokenInput", {
  description: "Whose token (exactly one of `userId` or `originId`) and how long it must stay valid.",
  fields: (t) => ({
    userId: t.id({ description: "LCIC's user id. Give exactly one of `userId` or `originId`." }),
    originId: t.string({ description: "Your id for the user (within `sdkAppId`). Give exactly one of `userId` or `originId`." }),
    sdkAppId: t.int({ description: "LCIC application; defaults to LCIC_SDK_APP_ID." }),
    minValiditySeconds: t.int({
      defaultValue: DEFAULT_MIN_VALIDITY_SECONDS,
      description: `The token returned stays valid at least this long (0 to ${MAX_MIN_VALIDITY_SECONDS}, i.e. 6 days; tokens live 7). A stored token that does is returned without calling LCIC.`,
    }),
  }),
});

const ClassroomUserToken = builder.objectRef<IssuedToken>("ClassroomUserToken").implement({
  description: "An LCIC login token for one user: what the classroom SDK needs to enter a class as them.",
  fields: (t) => ({
    user: t.field({ type: ClassroomUser, description: "The user the token is for.", resolve: (r) => r.user }),
    token: t.exposeString("token", {
      // A credential: the `credential` tag lets a supergraph contract leave it out.
      tag: "credential",
      description: "LCIC login token for this user: a credential. Hand it only to that user's client; never log it. Valid until `tokenExpiresAt`.",
    }),
    tokenExpiresAt: t.expose("tokenExpiresAt", { type: "DateTime", description: "When `token` stops working: at least `minValiditySeconds` away." }),
    fromCache: t.exposeBoolean("fromCache", {
      description: "True when the stored token was returned without calling LCIC; false when LCIC issued it for this request.",
    }),
    requestId: t.string({
      nullable: true,
      description: "LCIC's RequestId of the call that issued the token, for support requests to Tencent Cloud.",
      resolve: (r) => r.requestId ?? null,
    }),
  }),
});

builder.mutationField("issueClassroomUserToken", (t) =>
  t.field({
    type: ClassroomUserToken,
    description:
      "A login token for a user, valid for at least `minValiditySeconds`: call it right before the user enters a classroom. The stored token is reused while valid long enough; otherwise LCIC issues one (LoginUser), at most one call for concurrent requests. Allowed with the register scope, or for the caller's own user.",
    args: { input: t.arg({ type: TokenInput, required: true }) },
    errors: { types: [...USER_OPERATION_ERRORS], union: { name: "IssueClassroomUserTokenResult", description: "The token, or why not." } },
    authenticated: true,
    authScopes: (_root, args, ctx) => manageTarget(ctx, args.input),
    resolve: (_root, args, ctx) => ctx.users.issueToken({ ...args.input, userId: args.input.userId == null ? args.input.userId : String(args.input.userId) }, { clientKey: ctx.clientKey }),
  }),
);
