/**
 * The LCIC client: our interface in our own words, and its adapter over the official SDK.
 * Nothing outside src/lcic imports the SDK.
 */

import http from "node:http";
import https from "node:https";
import { Client } from "tencentcloud-sdk-nodejs/tencentcloud/services/lcic/v20220817/lcic_client.js";
import type {
  BatchRegisterResponse,
  DescribeSdkAppIdUsersResponse,
  DescribeUserResponse,
  LoginOriginIdResponse,
  LoginUserResponse,
  RegisterUserResponse,
  UserInfo,
} from "tencentcloud-sdk-nodejs/tencentcloud/services/lcic/v20220817/lcic_models.js";
import { invalidResponse, timeoutError, toLcicError } from "./errors.js";

/** A user as LCIC describes it. */
export interface LcicUser {
  sdkAppId: number;
  userId: string;
  originId: string;
  name?: string;
  avatar?: string;
}

/**
 * Who is waiting for a call, for the shared pacer (src/lcic/pacer.ts): `interactive` (default) a
 * person registering; `lookup` a read falling back to LCIC, served after interactive calls;
 * `background` a job, served only from idle budget.
 */
export type LcicPriority = "interactive" | "lookup" | "background";

export interface CallOptions {
  signal?: AbortSignal;
  /** Default `interactive`. */
  priority?: LcicPriority;
  /**
   * The call is sent only once this resolves, and settles only after it settled; if it rejects,
   * nothing is sent and the call fails with its error. For work that must be committed before the
   * call leaves (the record of a registration attempt) but need not delay what comes before the
   * sending: the resilient client (resilient.ts) reserves the call's pacer slot meanwhile.
   */
  ready?: Promise<unknown>;
}

export interface RegisterUserInput {
  sdkAppId: number;
  name?: string;
  originId?: string;
  avatar?: string;
}

export interface LcicToken {
  userId: string;
  /** LCIC login token, valid for 7 days from issue. A credential: never log it. */
  token: string;
  requestId: string;
}

export interface LcicClient {
  registerUser(input: RegisterUserInput, options?: CallOptions): Promise<LcicToken>;
  /** At most 1000 users; existing users are overwritten. Returns the users registered successfully. */
  batchRegister(
    users: RegisterUserInput[],
    options?: CallOptions,
  ): Promise<{ users: Array<{ sdkAppId: number; userId: string; originId: string }>; requestId: string }>;
  /** By userId (takes priority) or by originId. Throws ResourceNotFound.User when unknown. */
  describeUser(
    by: { userId: string } | { originId: string },
    options?: CallOptions,
  ): Promise<LcicUser & { requestId: string }>;
  loginUser(userId: string, options?: CallOptions): Promise<LcicToken>;
  loginOriginId(input: { sdkAppId: number; originId: string }, options?: CallOptions): Promise<LcicToken>;
  modifyUserProfile(
    input: { userId: string; nickname?: string; avatar?: string },
    options?: CallOptions,
  ): Promise<{ requestId: string }>;
  deleteUser(userId: string, options?: CallOptions): Promise<{ requestId: string }>;
  describeSdkAppIdUsers(
    input: { sdkAppId: number; page?: number; limit?: number },
    options?: CallOptions,
  ): Promise<{ total: number; users: LcicUser[]; requestId: string }>;
}

export interface LcicClientConfig {
  /** e.g. https://lcic.tencentcloudapi.com or http://127.0.0.1:PORT */
  endpoint: string;
  secretId: string;
  secretKey: string;
  region?: string;
  timeoutMs: number;
}

/** Actions the LCIC layer speaks, as LCIC names them. */
export const LCIC_ACTIONS = [
  "RegisterUser",
  "BatchRegister",
  "DescribeUser",
  "LoginUser",
  "LoginOriginId",
  "ModifyUserProfile",
  "DeleteUser",
  "DescribeSdkAppIdUsers",
] as const;
export type LcicAction = (typeof LCIC_ACTIONS)[number];

export interface CreateLcicClientOptions {
  /**
   * HTTP(S) agent for every request. Default: a keep-alive agent matching the endpoint's protocol.
   * When given, the caller owns it (and its lifetime).
   */
  agent?: http.Agent;
}

/** The SDK's httpProfile wants the protocol ("https://") and the host[:port] separately. */
export function splitLcicEndpoint(endpoint: string): { protocol: "http://" | "https://"; host: string } {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new TypeError(`LCIC endpoint is not a URL: ${JSON.stringify(endpoint)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`LCIC endpoint must be http:// or https://, got ${url.protocol}`);
  }
  // The SDK always posts to "/"; a path or query here would be silently dropped, so refuse it.
  if ((url.pathname !== "/" && url.pathname !== "") || url.search !== "" || url.username !== "" || url.password !== "") {
    throw new TypeError("LCIC endpoint must be scheme://host[:port] without path, query or credentials");
  }
  return { protocol: url.protocol === "http:" ? "http://" : "https://", host: url.host };
}

type LcicResponse = { RequestId?: string };

/**
 * The LcicClient over the official SDK. Only the LCIC v20220817 client is imported (deep import),
 * so the other ~260 services of the SDK are never loaded.
 */
export function createLcicClient(config: LcicClientConfig, options: CreateLcicClientOptions = {}): LcicClient {
  const { protocol, host } = splitLcicEndpoint(config.endpoint);
  if (!(config.timeoutMs > 0) || !Number.isFinite(config.timeoutMs)) {
    throw new RangeError(`LCIC timeoutMs must be a positive number, got ${config.timeoutMs}`);
  }
  // Always pass an agent. Two reasons:
  // 1. The SDK's fetch wrapper routes every request through an HttpsProxyAgent when the lowercase
  //    `http_proxy` variable is set and no agent is given (ignoring no_proxy, even for 127.0.0.1),
  //    so an unrelated proxy setting could silently reroute or break LCIC calls.
  // 2. keepAlive reuses TLS connections across calls instead of a handshake per request.
  const agent =
    options.agent ?? (protocol === "http://" ? new http.Agent({ keepAlive: true }) : new https.Agent({ keepAlive: true }));

  const sdk = new Client({
    credential: { secretId: config.secretId, secretKey: config.secretKey },
    region: config.region,
    profile: {
      httpProfile: {
        protocol,
        endpoint: host,
        // The SDK counts seconds and multiplies by 1000 for node-fetch, so fractions work.
        reqTimeout: config.timeoutMs / 1000,
        agent,
      },
    },
  });

  async function call<R extends LcicResponse>(action: LcicAction, req: object, callOptions?: CallOptions): Promise<R> {
    if (callOptions?.ready) await callOptions.ready; // see CallOptions.ready: nothing leaves before it
    // reqTimeout alone bounds the wait for headers and, separately, for the body (up to twice
    // timeoutMs); this deadline bounds the whole call.
    const deadline = AbortSignal.timeout(config.timeoutMs);
    const callerSignal = callOptions?.signal;
    const signal = callerSignal ? AbortSignal.any([callerSignal, deadline]) : deadline;
    let res: unknown;
    try {
      // `request` (not the generated methods) because only it forwards an AbortSignal.
      res = await sdk.request(action, req, { signal });
    } catch (error) {
      const lcicError = toLcicError(error, action);
      if (lcicError.code === "Network.Aborted" && deadline.aborted && !callerSignal?.aborted) {
        throw timeoutError(action, error);
      }
      throw lcicError;
    }
    if (typeof res !== "object" || res === null) throw invalidResponse(action, "no Response object");
    return res as R;
  }

  function requireString(action: LcicAction, res: LcicResponse, field: string, value: unknown): string {
    if (typeof value !== "string" || value === "") throw invalidResponse(action, `missing ${field}`, res.RequestId);
    return value;
  }

  function requireNumber(action: LcicAction, res: LcicResponse, field: string, value: unknown): number {
    if (typeof value !== "number" || !Number.isFinite(value)) throw invalidResponse(action, `missing ${field}`, res.RequestId);
    return value;
  }

  function token(action: LcicAction, res: RegisterUserResponse | LoginUserResponse | LoginOriginIdResponse): LcicToken {
    return {
      userId: requireString(action, res, "UserId", res.UserId),
      token: requireString(action, res, "Token", res.Token),
      requestId: res.RequestId ?? "",
    };
  }

  function user(action: LcicAction, res: LcicResponse, u: UserInfo): LcicUser {
    const out: LcicUser = {
      sdkAppId: requireNumber(action, res, "SdkAppId", u.SdkAppId),
      userId: requireString(action, res, "UserId", u.UserId),
      originId: requireString(action, res, "OriginId", u.OriginId),
    };
    if (u.Name !== undefined) out.name = u.Name;
    if (u.Avatar !== undefined) out.avatar = u.Avatar;
    return out;
  }

  function registerRequest(input: RegisterUserInput) {
    return { SdkAppId: input.sdkAppId, Name: input.name, OriginId: input.originId, Avatar: input.avatar };
  }

  return {
    async registerUser(input, callOptions) {
      const res = await call<RegisterUserResponse>("RegisterUser", registerRequest(input), callOptions);
      return token("RegisterUser", res);
    },

    async batchRegister(users, callOptions) {
      const res = await call<BatchRegisterResponse>("BatchRegister", { Users: users.map(registerRequest) }, callOptions);
      if (!Array.isArray(res.Users)) throw invalidResponse("BatchRegister", "missing Users", res.RequestId);
      return {
        users: res.Users.map((u) => ({
          sdkAppId: requireNumber("BatchRegister", res, "Users.SdkAppId", u.SdkAppId),
          userId: requireString("BatchRegister", res, "Users.UserId", u.UserId),
          originId: requireString("BatchRegister", res, "Users.OriginId", u.OriginId),
        })),
        requestId: res.RequestId ?? "",
      };
    },

    async describeUser(by, callOptions) {
      const req = "userId" in by ? { UserId: by.userId } : { OriginId: by.originId };
      const res = await call<DescribeUserResponse>("DescribeUser", req, callOptions);
      return { ...user("DescribeUser", res, res), requestId: res.RequestId ?? "" };
    },

    async loginUser(userId, callOptions) {
      const res = await call<LoginUserResponse>("LoginUser", { UserId: userId }, callOptions);
      return token("LoginUser", res);
    },

    async loginOriginId(input, callOptions) {
      const req = { SdkAppId: input.sdkAppId, OriginId: input.originId };
      const res = await call<LoginOriginIdResponse>("LoginOriginId", req, callOptions);
      return token("LoginOriginId", res);
    },

    async modifyUserProfile(input, callOptions) {
      const req = { UserId: input.userId, Nickname: input.nickname, Avatar: input.avatar };
      const res = await call<LcicResponse>("ModifyUserProfile", req, callOptions);
      return { requestId: res.RequestId ?? "" };
    },

    async deleteUser(userId, callOptions) {
      const res = await call<LcicResponse>("DeleteUser", { UserId: userId }, callOptions);
      return { requestId: res.RequestId ?? "" };
    },

    async describeSdkAppIdUsers(input, callOptions) {
      const req = { SdkAppId: input.sdkAppId, Page: input.page, Limit: input.limit };
      const res = await call<DescribeSdkAppIdUsersResponse>("DescribeSdkAppIdUsers", req, callOptions);
      const total = requireNumber("DescribeSdkAppIdUsers", res, "Total", res.Total);
      // LCIC may omit an empty list; Total tells us whether that is plausible.
      const users = res.Users ?? [];
      if (!Array.isArray(users)) throw invalidResponse("DescribeSdkAppIdUsers", "Users is not a list", res.RequestId);
      return {
        total,
        users: users.map((u) => user("DescribeSdkAppIdUsers", res, u)),
        requestId: res.RequestId ?? "",
      };
    },
  };
}
