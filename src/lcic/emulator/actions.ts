/**
 * The eight LCIC user actions: parameter checking as API 3.0 does it, then the behaviour
 * LCIC documents (LCIC-NOTES §1). No HTTP here; index.ts wires it to the server.
 */
import type { LcicAction } from "../client.js";
import { newToken, newUserId, type StoredUser, type UserStore } from "./store.js";

/** BatchRegister's documented cap. Over it we answer InvalidParameterValue: that code is in
 * BatchRegister's documented list and LimitExceeded is not. */
export const BATCH_REGISTER_MAX = 1000;
/** No maximum Limit is documented; the emulator refuses more than this so clients do not come to rely on huge pages. */
export const DESCRIBE_USERS_MAX_LIMIT = 1000;

export type ActionResult =
  | { ok: true; data: Record<string, unknown> }
  | { ok: false; code: string; message: string };

export interface ActionContext {
  store: UserStore;
  sdkAppIds: ReadonlySet<number>;
}

type ParamType = "string" | "uint" | "users";
type ParamSpec = Record<string, { type: ParamType; required?: boolean }>;

const USER_FIELDS: ParamSpec = {
  SdkAppId: { type: "uint", required: true },
  Name: { type: "string" },
  OriginId: { type: "string" },
  Avatar: { type: "string" },
};

const PARAMS: Record<LcicAction, ParamSpec> = {
  RegisterUser: USER_FIELDS,
  BatchRegister: { Users: { type: "users", required: true } },
  DescribeUser: { UserId: { type: "string" }, OriginId: { type: "string" } },
  LoginUser: { UserId: { type: "string", required: true } },
  LoginOriginId: { SdkAppId: { type: "uint", required: true }, OriginId: { type: "string", required: true } },
  ModifyUserProfile: { UserId: { type: "string", required: true }, Nickname: { type: "string" }, Avatar: { type: "string" } },
  DeleteUser: { UserId: { type: "string", required: true } },
  DescribeSdkAppIdUsers: { SdkAppId: { type: "uint", required: true }, Page: { type: "uint" }, Limit: { type: "uint" } },
};

const err = (code: string, message: string): ActionResult => ({ ok: false, code, message });

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function checkParams(body: Record<string, unknown>, spec: ParamSpec, prefix: string): ActionResult | undefined {
  for (const key of Object.keys(body)) {
    if (!(key in spec)) return err("UnknownParameter", `The parameter \`${prefix}${key}\` is not recognized.`);
  }
  for (const [key, { type, required }] of Object.entries(spec)) {
    const value = body[key];
    const name = prefix + key;
    // A required string given as "" is as good as absent.
    if (value === undefined || (required && value === "")) {
      if (required) return err("MissingParameter", `The request is missing a required parameter \`${name}\`.`);
      continue;
    }
    const typeError = err("InvalidParameter", `Parameter \`${name}\` type error.`);
    if (type === "string" && typeof value !== "string") return typeError;
    if (type === "uint" && !(typeof value === "number" && Number.isSafeInteger(value) && value >= 0)) return typeError;
    if (type === "users") {
      if (!Array.isArray(value)) return typeError;
      if (value.length === 0) return err("InvalidParameterValue", `Parameter \`${name}\` must not be empty.`);
      if (value.length > BATCH_REGISTER_MAX) {
        return err("InvalidParameterValue", `Parameter \`${name}\` holds ${value.length} users; at most ${BATCH_REGISTER_MAX} are allowed.`);
      }
      for (const [i, item] of value.entries()) {
        if (!isObject(item)) return err("InvalidParameter", `Parameter \`${name}.${i}\` type error.`);
        const bad = checkParams(item, USER_FIELDS, `${name}.${i}.`);
        if (bad) return bad;
      }
    }
  }
  return undefined;
}

const unknownApp = (sdkAppId: number) => err("InvalidParameter.SdkAppId", `SdkAppId ${sdkAppId} is invalid.`);
const noUser = () => err("ResourceNotFound.User", "The user does not exist.");

const userInfo = (u: StoredUser) => ({
  SdkAppId: u.sdkAppId,
  UserId: u.userId,
  Name: u.name,
  Avatar: u.avatar,
  OriginId: u.originId,
});

/** Run one action on a parsed JSON body. `ok: true` means LCIC would have applied it. */
export function runAction(action: LcicAction, body: unknown, ctx: ActionContext): ActionResult {
  if (!isObject(body)) return err("InvalidParameter", "The request body must be a JSON object.");
  const bad = checkParams(body, PARAMS[action], "");
  if (bad) return bad;
  // Types were checked above, so these casts only restate them.
  const str = (key: string) => body[key] as string | undefined;
  const uint = (key: string) => body[key] as number | undefined;
  const { store, sdkAppIds } = ctx;

  switch (action) {
    case "RegisterUser": {
      const sdkAppId = uint("SdkAppId")!;
      if (!sdkAppIds.has(sdkAppId)) return unknownApp(sdkAppId);
      const originId = str("OriginId") ?? "";
      if (originId !== "" && store.findByOrigin(sdkAppId, originId)) {
        return err("FailedOperation.OriginIdExists", "The user origin ID already exists.");
      }
      const userId = newUserId();
      // An empty OriginId defaults to the UserId (documented).
      store.put({ sdkAppId, userId, originId: originId || userId, name: str("Name") ?? "", avatar: str("Avatar") ?? "" });
      return { ok: true, data: { UserId: userId, Token: newToken() } };
    }

    case "BatchRegister": {
      const items = body.Users as Array<Record<string, unknown>>;
      // Validate everything first: a request LCIC refuses applies nothing.
      for (const item of items) {
        const sdkAppId = item.SdkAppId as number;
        if (!sdkAppIds.has(sdkAppId)) return unknownApp(sdkAppId);
      }
      const users = items.map((item) => {
        const sdkAppId = item.SdkAppId as number;
        const originId = (item.OriginId as string | undefined) ?? "";
        const name = (item.Name as string | undefined) ?? "";
        const avatar = (item.Avatar as string | undefined) ?? "";
        const existing = originId === "" ? undefined : store.findByOrigin(sdkAppId, originId);
        // Existing users are overwritten (documented): same UserId, new Name and Avatar.
        const userId = existing?.userId ?? newUserId();
        store.put({ sdkAppId, userId, originId: originId || userId, name, avatar });
        return { SdkAppId: sdkAppId, UserId: userId, OriginId: originId || userId };
      });
      return { ok: true, data: { Users: users } };
    }

    case "DescribeUser": {
      const userId = str("UserId") ?? "";
      const originId = str("OriginId") ?? "";
      if (userId === "" && originId === "") {
        return err("MissingParameter", "The request is missing a required parameter `UserId` or `OriginId`.");
      }
      let user: StoredUser | undefined;
      if (userId !== "") {
        // UserId takes priority; OriginId is then ignored (documented).
        user = store.get(userId);
      } else {
        // DescribeUser carries no SdkAppId, yet OriginId is only unique per application. Real LCIC
        // presumably scopes by the calling account; here we search the known applications in order
        // and return the first match, so with one OriginId in two apps the answer is the first app's.
        for (const sdkAppId of sdkAppIds) {
          user = store.findByOrigin(sdkAppId, originId);
          if (user) break;
        }
      }
      return user ? { ok: true, data: userInfo(user) } : noUser();
    }

    case "LoginUser": {
      const user = store.get(str("UserId")!);
      return user ? { ok: true, data: { UserId: user.userId, Token: newToken() } } : noUser();
    }

    case "LoginOriginId": {
      const sdkAppId = uint("SdkAppId")!;
      if (!sdkAppIds.has(sdkAppId)) return unknownApp(sdkAppId);
      const user = store.findByOrigin(sdkAppId, str("OriginId")!);
      return user ? { ok: true, data: { UserId: user.userId, Token: newToken() } } : noUser();
    }

    case "ModifyUserProfile": {
      const user = store.get(str("UserId")!);
      if (!user) return noUser();
      // Nickname is the Name given at registration (documented).
      const nickname = str("Nickname");
      const avatar = str("Avatar");
      store.put({ ...user, name: nickname ?? user.name, avatar: avatar ?? user.avatar });
      return { ok: true, data: {} };
    }

    case "DeleteUser": {
      const userId = str("UserId")!;
      if (!store.get(userId)) return noUser();
      // "如果该成员已被添加到群组，请先在群组中删除该成员" (LCIC-NOTES §1).
      if (store.isInGroup(userId)) {
        return err("FailedOperation.UserIsAlreadyInGroup", "The user has been added to a group; remove the user from the group first.");
      }
      store.delete(userId);
      return { ok: true, data: {} };
    }

    case "DescribeSdkAppIdUsers": {
      const sdkAppId = uint("SdkAppId")!;
      if (!sdkAppIds.has(sdkAppId)) return unknownApp(sdkAppId);
      const page = uint("Page") ?? 1;
      const limit = uint("Limit") ?? 20;
      if (page < 1) return err("InvalidParameterValue", "Parameter `Page` must be at least 1.");
      if (limit < 1 || limit > DESCRIBE_USERS_MAX_LIMIT) {
        return err("InvalidParameterValue", `Parameter \`Limit\` must be between 1 and ${DESCRIBE_USERS_MAX_LIMIT}.`);
      }
      const all = store.list(sdkAppId);
      const users = all.slice((page - 1) * limit, page * limit).map(userInfo);
      return { ok: true, data: { Total: all.length, Users: users } };
    }
  }
}
