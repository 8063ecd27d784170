import { LcicRateLimitedError } from "../users/errors.js";
import { BULK_REGISTER_MAX, type BulkRegisterOutcome, type BulkRegisterResult } from "../users/bulk-registration.js";
import { LIMITS } from "../users/validation.js";
import { builder } from "./builder.js";
import { ClassroomUser } from "./classroom-user.js";
import { BULK_REGISTER_ERRORS } from "./errors.js";

const Outcome = builder.objectRef<BulkRegisterOutcome>("RegisterClassroomUsersOutcome").implement({
  description: "One item of a bulk registration, in input order.",
  fields: (t) => ({
    originId: t.exposeString("originId", { description: "The item's originId." }),
    user: t.field({ type: ClassroomUser, description: "The registered user.", resolve: (o) => o.user }),
    created: t.exposeBoolean("created", {
      description:
        "True when this request registered the user (new to this service); false when this service already had it. A user LCIC knew but this service did not is registered (overwritten with this item's name and avatar) and counts as created.",
    }),
  }),
});

const Success = builder.objectRef<BulkRegisterResult>("RegisterClassroomUsersSuccess").implement({
  description:
    "Every item is registered in LCIC and stored here. No tokens: LCIC's BatchRegister returns none; the service fetches them in the background, and `issueClassroomUserToken` serves them.",
  fields: (t) => ({
    users: t.field({ type: [Outcome], description: "One outcome per input item, in input order.", resolve: (r) => r.users }),
    createdCount: t.exposeInt("createdCount", { description: "Items registered by this request." }),
    existingCount: t.exposeInt("existingCount", { description: "Items this service already had (not sent to LCIC)." }),
    requestId: t.string({
      nullable: true,
      description: "LCIC's RequestId of the BatchRegister call, for support requests; null when nothing had to be sent.",
      resolve: (r) => r.requestId ?? null,
    }),
  }),
});

const Item = builder.inputType("RegisterClassroomUsersItem", {
  description: "One user of a bulk registration; the same rules as `registerClassroomUser`.",
  fields: (t) => ({
    originId: t.string({ required: true, description: `Your id for this user, 1–${LIMITS.originId} characters, distinct within the request.` }),
    name: t.string({ description: `Display name shown in the classroom, 1–${LIMITS.name} characters.` }),
    avatar: t.string({ description: `Avatar image URL (http or https), at most ${LIMITS.avatar} characters.` }),
  }),
});

const Input = builder.inputType("RegisterClassroomUsersInput", {
  description: `Up to ${BULK_REGISTER_MAX} users to register in one LCIC application.`,
  fields: (t) => ({
    sdkAppId: t.int({ description: "LCIC application; defaults to the service's LCIC_SDK_APP_ID." }),
    users: t.field({ type: [Item], required: true, description: `1 to ${BULK_REGISTER_MAX} users with distinct originIds.` }),
  }),
});

builder.mutationField("registerClassroomUsers", (t) =>
  t.field({
    type: Success,
    description: `Registers up to ${BULK_REGISTER_MAX} users with one LCIC BatchRegister call and stores them; users already stored are returned (\`created: false\`) and not sent. Exactly once per originId, like \`registerClassroomUser\`: safe to repeat after a lost reply. Any invalid item fails the whole request with one ValidationError naming each item (\`["input", "users", "17", "name"]\`), before anything is called or stored. Needs the register scope.`,
    args: { input: t.arg({ type: Input, required: true }) },
    errors: { types: [...BULK_REGISTER_ERRORS], union: { name: "RegisterClassroomUsersResult", description: "The registered users, or why not." } },
    authenticated: true,
    // The register scope only: there is no self-service for bulk (no originId identifies the caller).
    authScopes: { register: { originId: undefined } },
    resolve: async (_root, args, ctx) => {
      const budget = await ctx.registrationLimiter.consume(ctx.clientKey);
      // The union is fixed by the contract: a client over its budget gets LcicRateLimitedError (code Client.RateLimited).
      if (!budget.allowed) throw new LcicRateLimitedError("Client.RateLimited", budget.retryAfterMs);
      return ctx.bulkRegistration.registerMany(args.input);
    },
  }),
);
