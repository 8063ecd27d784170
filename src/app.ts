import postgres from "postgres";
import type { Config } from "./config.js";
import { connectDatabase, type DatabaseHandle } from "./db/client.js";
import { createLcicClient, type LcicClient } from "./lcic/client.js";
import type { Logger } from "./logger.js";
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
}

export interface App {
  server: AppServer;
  db: DatabaseHandle;
  users: UsersService;
  lcic: LcicClient;
  close(graceMs?: number): Promise<void>;
}

/** Wires config → database → LCIC client → service → server. No I/O beyond opening the pool. */
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
  // Registration locks get their own pool. A lock holder keeps its connection while its own queries
  // run on the main pool; sharing one pool, as many concurrent registrations as connections would
  // hold every connection and wait forever for one more.
  const lockPool = postgres(deps.databaseUrl, {
    max: config.database.poolSize,
    onnotice: () => {},
    connection: { application_name: "classroom-users-locks" },
  });
  const users = new UsersService({
    repository: new UsersRepository(db.db, lockPool),
    lcic,
    cipher: new TokenCipher(deps.tokenKeys),
    logger,
    sdkAppId: config.lcic.sdkAppId,
    sdkAppIds: config.lcic.sdkAppIds,
  });
  const server = createServer({ db, users, logger, graphiql: !config.production });
  return {
    server,
    db,
    users,
    lcic,
    async close(graceMs) {
      await server.close(graceMs);
      await Promise.all([db.close(), lockPool.end({ timeout: 5 })]);
    },
  };
}
