import type { LcicClient } from "../lcic/client.js";
import type { Logger } from "../logger.js";
import { InvalidSdkAppIdError } from "./errors.js";
import type { RegistrationLock } from "./registration-lock.js";
import type { UsersRepository } from "./repository.js";
import type { TokenCipher } from "./tokens.js";

/** What every users use case is built from. */
export interface UsersDeps {
  repository: UsersRepository;
  lock: RegistrationLock;
  lcic: LcicClient;
  cipher: TokenCipher;
  logger: Logger;
  /** LCIC_SDK_APP_ID: the application used when a request names none. */
  sdkAppId: number;
  /** LCIC_SDK_APP_IDS: the applications requests may name. */
  sdkAppIds: readonly number[];
  /** Longest a request waits for another request registering the same key (default 30 s). */
  lockTimeoutMs?: number;
  now?: () => Date;
  /** Waits between RegisterUser rounds (injectable for tests); default a real timer. */
  sleep?: (ms: number) => Promise<void>;
}

/** UsersDeps with the defaults filled in: what the use-case modules take. */
export type UsersContext = Required<UsersDeps>;

export function usersContext(deps: UsersDeps): UsersContext {
  return {
    ...deps,
    lockTimeoutMs: deps.lockTimeoutMs ?? 30_000,
    now: deps.now ?? (() => new Date()),
    sleep: deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
  };
}

/** The application a request means: the one it names, else LCIC_SDK_APP_ID; one not served is refused. */
export function resolveSdkAppId(ctx: Pick<UsersContext, "sdkAppId" | "sdkAppIds">, sdkAppId: number | null | undefined): number {
  const id = sdkAppId ?? ctx.sdkAppId;
  if (!ctx.sdkAppIds.includes(id)) throw new InvalidSdkAppIdError(id);
  return id;
}
