import type { RegisterResult } from "../users/registration.js";
import { ClientRateLimitedError } from "../users/errors.js";
import { LIMITS } from "../users/validation.js";
import { builder } from "./builder.js";
import { ClassroomUser } from "./classroom-user.js";
import { REGISTER_ERRORS } from "./errors.js";

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

builder.mutationField("registerClassroomUser", (t) =>
  t.field({
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
    resolve: (_root, args, ctx) => {
      // The client's budget is counted alongside the registration's first (read-only) statement: the
      // registration writes nothing and calls no LCIC before the budget admits it.
      const admitted = ctx.registrationLimiter.consume(ctx.clientKey).then((budget) => {
        if (!budget.allowed) throw new ClientRateLimitedError("registrations", budget.retryAfterMs);
      });
      // register awaits it on every path; this only keeps a refusal from ever counting as unhandled.
      admitted.catch(() => undefined);
      return ctx.users.register(args.input, { admitted });
    },
  }),
);
