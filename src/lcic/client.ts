/**
 * The LCIC client: our interface in our own words, and its adapter over the official SDK.
 * Nothing outside src/lcic imports the SDK.
 */

/** A user as LCIC describes it. */
export interface LcicUser {
  sdkAppId: number;
  userId: string;
  originId: string;
  name?: string;
  avatar?: string;
}

export interface CallOptions {
  signal?: AbortSignal;
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
