import type { Authenticator } from "./auth/jwt.js";
import type { Config } from "./config.js";
import { connectDatabase, type DatabaseHandle } from "./db/client.js";
import { createLcicClient, type LcicClient } from "./lcic/client.js";
import { RegistrationLimiter } from "./limits/registration-limiter.js";
import type { Logger } from "./logger.js";
import { loadTrustedDocuments } from "./security/trusted-documents.js";
import { createServer, type AppServer } from "./server.js";
import { UsersRepository } from "./users/repository.js";
import { UsersService } from "./users/service.js";
import { TokenCipher } from "./users/tokens.js";

export interface AppDeps {
  config: Config;
  logger: Logger;
  databaseUrl: string;
  /** Overrides the LCIC client built from config (credentials, endpoint): e.g. the in-process emulator's. */
  lcic?: LcicClient;
  lcicCredentials?: { endpoint: string; secretId: string; secretKey: string };
  tokenKeys: Buffer[];
  /** Overrides the authenticator built from config.auth (tests: short JWKS cooldowns). */
  authenticator?: Authenticator;
}

export interface App {
  server: AppServer;
  db: DatabaseHandle;
  users: UsersService;
  lcic: LcicClient;
  close(graceMs?: number): Promise<void>;
}

/** Wires config → database → LCIC client → service → server. No I/O beyond opening the pool (and reading TRUSTED_DOCUMENTS_FILE). */
export function createApp(deps: AppDeps): App {
  const { config, logger } = deps;
  const db = connectDatabase(deps.databaseUrl, { poolSize: config.database.poolSize });
  const credentials = deps.lcicCredentials ?? {
    endpoint: config.lcic.endpoint,
    secretId: config.lcic.secretId ?? "",
    secretKey: config.lcic.secretKey ?? "",
  };
  const lcic =
    deps.lcic ??
    createLcicClient({
      ...credentials,
      timeoutMs: config.lcic.timeoutMs,
      ...(config.lcic.region ? { region: config.lcic.region } : {}),
    });
  const users = new UsersService({
    repository: new UsersRepository(db.db, db.sql),
    lcic,
    cipher: new TokenCipher(deps.tokenKeys),
    logger,
    sdkAppId: config.lcic.sdkAppId,
    sdkAppIds: config.lcic.sdkAppIds,
  });
  const registrationLimiter = new RegistrationLimiter(db.db, { limit: config.security.registrationsPerMinute });
  const trustedDocuments = config.security.trustedDocumentsFile ? loadTrustedDocuments(config.security.trustedDocumentsFile) : undefined;
  const server = createServer({
    db,
    users,
    logger,
    auth: config.auth,
    security: config.security,
    registrationLimiter,
    ...(deps.authenticator ? { authenticator: deps.authenticator } : {}),
    ...(trustedDocuments ? { trustedDocuments } : {}),
  });
  return {
    server,
    db,
    users,
    lcic,
    async close(graceMs) {
      await server.close(graceMs);
      await db.close();
    },
  };
}
