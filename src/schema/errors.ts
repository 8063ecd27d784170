import {
  ClassroomUserNotFoundError,
  ClientRateLimitedError,
  InvalidSdkAppIdError,
  LcicRateLimitedError,
  LcicRequestError,
  LcicUnavailableError,
  OriginIdExistsError,
  RegistrationBusyError,
  ValidationError,
  type FieldError,
} from "../users/errors.js";
import { builder } from "./builder.js";

/** Anything with a code and a message: what every error member of a result union shares. */
interface ErrorShape {
  code: string;
  message: string;
}

export const ErrorInterface = builder.interfaceRef<ErrorShape>("Error").implement({
  description:
    "Shared by every error a result union can hold. Query `... on Error { code message }` to handle any failure generically, and the specific types for their details. Other subgraphs may declare the same interface: composition merges it, and its members stay with the subgraph that defines them.",
  fields: (t) => ({
    code: t.exposeString("code", {
      description:
        "Machine-readable code: LCIC's code where LCIC answered (e.g. `FailedOperation.OriginIdExists`, `InvalidParameter.SdkAppId`, `InternalError`), ours otherwise (e.g. `ValidationFailed`, `Network.Timeout`).",
    }),
    message: t.exposeString("message", { description: "A human-readable explanation, safe to show to developers; not meant for parsing." }),
  }),
});

// Federation: `FieldError` and `ValidationError` are `@shareable` because "invalid input, field by field"
// is a convention other subgraphs of a supergraph repeat under the same names; sharing lets them define
// identical types without a composition error. The LCIC errors stay owned by this subgraph (no `@shareable`):
// a second definition of them elsewhere is a naming clash composition should report.
const FieldErrorRef = builder.objectRef<FieldError>("FieldError").implement({
  description: "One invalid input field. Shareable: other subgraphs may define the same type.",
  shareable: true,
  fields: (t) => ({
    path: t.exposeStringList("path", { description: 'Where the field is, e.g. ["input", "avatar"].' }),
    message: t.exposeString("message", { description: "What is wrong with it." }),
  }),
});

builder.objectType(ValidationError, {
  name: "ValidationError",
  description:
    "The input was refused before anything was called or stored. `code` is `ValidationFailed`. Shareable: other subgraphs may define the same type.",
  shareable: true,
  interfaces: [ErrorInterface],
  fields: (t) => ({
    fieldErrors: t.field({ type: [FieldErrorRef], description: "Every invalid field, with a reason.", resolve: (e) => e.fieldErrors }),
  }),
});

builder.objectType(InvalidSdkAppIdError, {
  name: "InvalidSdkAppIdError",
  description:
    "The LCIC application (SdkAppId) is not one this service may use, or LCIC does not know it. `code` is `InvalidParameter.SdkAppId`.",
  interfaces: [ErrorInterface],
  fields: (t) => ({
    sdkAppId: t.exposeInt("sdkAppId", { description: "The application id that was refused." }),
    requestId: t.string({ nullable: true, description: "LCIC's RequestId, when LCIC answered.", resolve: (e) => e.requestId ?? null }),
  }),
});

builder.objectType(OriginIdExistsError, {
  name: "OriginIdExistsError",
  description:
    "A user with this originId already exists in the application, and `onExisting: FAIL` was asked. `code` is `FailedOperation.OriginIdExists`.",
  interfaces: [ErrorInterface],
  fields: (t) => ({
    originId: t.exposeString("originId", { description: "The originId that is taken." }),
    userId: t.id({ nullable: true, description: "The LCIC userId that holds it, where known.", resolve: (e) => e.userId ?? null }),
    requestId: t.string({ nullable: true, description: "LCIC's RequestId, when LCIC answered.", resolve: (e) => e.requestId ?? null }),
  }),
});

builder.objectType(ClassroomUserNotFoundError, {
  name: "ClassroomUserNotFoundError",
  description:
    "Neither this service nor LCIC knows the user, or its registration here has not completed yet (ask again after registering). `code` is `ResourceNotFound.User`.",
  interfaces: [ErrorInterface],
  fields: (t) => ({
    userId: t.id({ nullable: true, description: "The userId looked up, if any.", resolve: (e) => e.lookup.userId ?? null }),
    originId: t.string({ nullable: true, description: "The originId looked up, if any.", resolve: (e) => e.lookup.originId ?? null }),
    requestId: t.string({ nullable: true, description: "LCIC's RequestId, when LCIC answered.", resolve: (e) => e.requestId ?? null }),
  }),
});

builder.objectType(LcicRateLimitedError, {
  name: "LcicRateLimitedError",
  description:
    "LCIC's request rate limit (20 calls a second per action) would be exceeded beyond what this service waits for, or LCIC answered RequestLimitExceeded after our retries. Retry after `retryAfterMs`.",
  interfaces: [ErrorInterface],
  fields: (t) => ({
    retryAfterMs: t.exposeInt("retryAfterMs", { description: "How long to wait before retrying, in milliseconds." }),
    requestId: t.string({ nullable: true, description: "LCIC's RequestId, when LCIC answered.", resolve: (e) => e.requestId ?? null }),
  }),
});

builder.objectType(LcicUnavailableError, {
  name: "LcicUnavailableError",
  description:
    "LCIC could not be reached or failed internally (timeout, connection failure, 5xx, InternalError), even after retries. Safe to retry the same request: registration is idempotent per originId.",
  interfaces: [ErrorInterface],
  fields: (t) => ({
    requestId: t.string({ nullable: true, description: "LCIC's RequestId, when LCIC answered.", resolve: (e) => e.requestId ?? null }),
  }),
});

builder.objectType(ClientRateLimitedError, {
  name: "ClientRateLimitedError",
  description:
    "This client (the JWT's subject, else its network address) used up its own budget for the current minute: registrations (REGISTRATION_RATE_LIMIT_PER_MINUTE) or lookups that must ask LCIC (LOOKUP_FALLBACK_RATE_LIMIT_PER_MINUTE). LCIC was not called. `code` is `Client.RateLimited`. Retry after `retryAfterMs`.",
  interfaces: [ErrorInterface],
  fields: (t) => ({
    retryAfterMs: t.exposeInt("retryAfterMs", { description: "Until the client's budget window ends, in milliseconds." }),
  }),
});

builder.objectType(RegistrationBusyError, {
  name: "RegistrationBusyError",
  description:
    "Another request (on any replica) was registering the same originId and did not finish within the wait this request allows. This request sent nothing to LCIC. `code` is `Registration.Busy`. Safe to retry the same request.",
  interfaces: [ErrorInterface],
  fields: (t) => ({
    waitedMs: t.exposeInt("waitedMs", { description: "How long this request waited for the other one, in milliseconds." }),
  }),
});

builder.objectType(LcicRequestError, {
  name: "LcicError",
  description: "Any other error LCIC answered with. `code` is LCIC's error code.",
  interfaces: [ErrorInterface],
  fields: (t) => ({
    requestId: t.string({ nullable: true, description: "LCIC's RequestId, when LCIC answered.", resolve: (e) => e.requestId ?? null }),
  }),
});

/** Order matters: the errors plugin picks the first class the thrown error is an instance of. */
export const REGISTER_ERRORS = [
  ValidationError,
  InvalidSdkAppIdError,
  OriginIdExistsError,
  ClientRateLimitedError,
  RegistrationBusyError,
  LcicRateLimitedError,
  LcicUnavailableError,
  LcicRequestError,
] as const;

export const LOOKUP_ERRORS = [
  ClassroomUserNotFoundError,
  ValidationError,
  InvalidSdkAppIdError,
  ClientRateLimitedError,
  LcicRateLimitedError,
  LcicUnavailableError,
  LcicRequestError,
] as const;

export const BULK_REGISTER_ERRORS = [ValidationError, InvalidSdkAppIdError, LcicRateLimitedError, LcicUnavailableError, LcicRequestError] as const;
