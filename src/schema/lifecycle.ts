import {
  ClassroomUserInGroupError,
  ClassroomUserNotFoundError,
  ClientRateLimitedError,
  InvalidSdkAppIdError,
  LcicRateLimitedError,
  LcicRequestError,
  LcicUnavailableError,
  RegistrationBusyError,
  ValidationError,
} from "../users/errors.js";
import type { DeleteResult } from "../users/deletion.js";
import type { UpdateResult } from "../users/profile.js";
import { LIMITS } from "../users/validation.js";
import { builder, type GraphQLContext } from "./builder.js";
import { readTargetOf } from "./authorization.js";
import { ClassroomUser } from "./classroom-user.js";
import { ErrorInterface } from "./errors.js";

/**
 * The errors any operation on one existing user can end with: the contract, plus the client's
 * LCIC lookup budget (a user not stored here is looked up in LCIC first) and the bounded wait for the
 * key's lock. Order matters: the errors plugin picks the first class the thrown error is an instance of.
 */
export const USER_OPERATION_ERRORS = [
  ValidationError,
  InvalidSdkAppIdError,
  ClassroomUserNotFoundError,
  ClientRateLimitedError,
  RegistrationBusyError,
  LcicRateLimitedError,
  LcicUnavailableError,
  LcicRequestError,
] as const;

builder.objectType(ClassroomUserInGroupError, {
  name: "ClassroomUserInGroupError",
  description:
    "LCIC refuses to delete the user because they are still a member of a group: remove them from the group first, then delete again. Nothing was erased. `code` is `FailedOperation.UserIsAlreadyInGroup`.",
  interfaces: [ErrorInterface],
  fields: (t) => ({
    userId: t.exposeID("userId", { description: "The LCIC user that is still in a group." }),
    requestId: t.string({ nullable: true, description: "LCIC's RequestId, when LCIC answered.", resolve: (e) => e.requestId ?? null }),
  }),
});

/** Who a "who" input names, for the self-service rule (the stored originId of a userId from PostgreSQL only). */
export async function manageTarget(ctx: GraphQLContext, input: { userId?: string | number | null; originId?: string | null; sdkAppId?: number | null }) {
  if (ctx.principal.scopes.has(ctx.auth.scopes.register)) return true as const;
  return {
    manage: await readTargetOf(ctx, {
      userId: input.userId == null ? undefined : String(input.userId),
      originId: input.originId ?? undefined,
      sdkAppId: input.sdkAppId ?? undefined,
    }),
  };
}

const identifyDescriptions = {
  userId: "LCIC's user id. Give exactly one of `userId` or `originId`.",
  originId: "Your id for the user (within `sdkAppId`). Give exactly one of `userId` or `originId`.",
  sdkAppId: "LCIC application; defaults to LCIC_SDK_APP_ID.",
};

const UpdateInput = builder.inputType("UpdateClassroomUserInput", {
  description: "Which user to change (exactly one of `userId` or `originId`) and the new profile; give `name`, `avatar` or both.",
  fields: (t) => ({
    userId: t.id({ description: identifyDescriptions.userId }),
    originId: t.string({ description: identifyDescriptions.originId }),
    sdkAppId: t.int({ description: identifyDescriptions.sdkAppId }),
    name: t.string({ description: `New display name shown in the classroom, 1–${LIMITS.name} characters. Users already in a class see it from their next class.` }),
    avatar: t.string({ description: `New avatar image URL (http or https), at most ${LIMITS.avatar} characters; \`""\` removes the avatar.` }),
  }),
});

const UpdateSuccess = builder.objectRef<UpdateResult>("UpdateClassroomUserSuccess").implement({
  description: "The profile is changed in LCIC and here.",
  fields: (t) => ({
    user: t.field({ type: ClassroomUser, description: "The user as stored now.", resolve: (r) => r.user }),
    requestId: t.string({ nullable: true, description: "LCIC's RequestId of the ModifyUserProfile call.", resolve: (r) => r.requestId ?? null }),
  }),
});

const DeleteInput = builder.inputType("DeleteClassroomUserInput", {
  description: "Which user to delete: exactly one of `userId` or `originId`.",
  fields: (t) => ({
    userId: t.id({ description: identifyDescriptions.userId }),
    originId: t.string({ description: identifyDescriptions.originId }),
    sdkAppId: t.int({ description: identifyDescriptions.sdkAppId }),
  }),
});

const DeleteSuccess = builder.objectRef<DeleteResult>("DeleteClassroomUserSuccess").implement({
  description:
    "The user no longer exists in LCIC, and its name, avatar and token are erased here. Also the answer when it was already deleted (safe to repeat). Registering the same originId again creates a new LCIC user.",
  fields: (t) => ({
    userId: t.exposeID("userId", { description: "The deleted LCIC user id." }),
    sdkAppId: t.exposeInt("sdkAppId", { description: "Its LCIC application." }),
    originId: t.exposeString("originId", { description: "Its originId, now free to register again." }),
    requestId: t.string({
      nullable: true,
      description: "LCIC's RequestId of the DeleteUser call; null when the user was already gone.",
      resolve: (r) => r.requestId ?? null,
    }),
  }),
});

builder.mutationFields((t) => ({
  updateClassroomUser: t.field({
    type: UpdateSuccess,
    description:
      "Changes a user's display name and/or avatar in LCIC (ModifyUserProfile) and here. A user registered outside this service is stored first. Allowed with the register scope, or for the caller's own user.",
    args: { input: t.arg({ type: UpdateInput, required: true }) },
    errors: { types: [...USER_OPERATION_ERRORS], union: { name: "UpdateClassroomUserResult", description: "The updated user, or why not." } },
    authenticated: true,
    authScopes: (_root, args, ctx) => manageTarget(ctx, args.input),
    resolve: (_root, args, ctx) => ctx.users.update({ ...args.input, userId: args.input.userId == null ? args.input.userId : String(args.input.userId) }, { clientKey: ctx.clientKey }),
  }),
  deleteClassroomUser: t.field({
    type: DeleteSuccess,
    description:
      "Deletes a user in LCIC (DeleteUser) and erases it here, keeping only its ids and the time. Idempotent. Refused with `ClassroomUserInGroupError` while LCIC has the user in a group. Needs the delete scope.",
    args: { input: t.arg({ type: DeleteInput, required: true }) },
    errors: {
      types: [ClassroomUserInGroupError, ...USER_OPERATION_ERRORS],
      union: { name: "DeleteClassroomUserResult", description: "The deleted user's ids, or why not." },
    },
    authenticated: true,
    authScopes: { delete: true },
    resolve: (_root, args, ctx) => ctx.users.delete({ ...args.input, userId: args.input.userId == null ? args.input.userId : String(args.input.userId) }, { clientKey: ctx.clientKey }),
  }),
}));
