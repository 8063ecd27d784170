/**
 * A UsersService wired like createApp wires it (real SDK client → resilient client with the Postgres
 * pacer → service), against an in-process emulator and a fresh test database.
 */
import { randomBytes } from "node:crypto";
import { CircuitBreaker, type CircuitBreakerOptions } from "../../src/lcic/breaker.js";
import { createLcicClient } from "../../src/lcic/client.js";
import { startLcicEmulator, type EmulatorOptions, type LcicEmulator } from "../../src/lcic/emulator/index.js";
import { createPostgresPacer } from "../../src/lcic/pacer.js";
import { createResilientLcicClient, type ResilientLcicClient } from "../../src/lcic/resilient.js";
import { createLogger } from "../../src/logger.js";
import type { DatabaseHandle } from "../../src/db/client.js";
import { connectDatabase } from "../../src/db/client.js";
import { RegistrationLock } from "../../src/users/registration-lock.js";
import { UsersRepository } from "../../src/users/repository.js";
import { UsersService } from "../../src/users/service.js";
import { TokenCipher } from "../../src/users/tokens.js";

export interface ServiceHarness {
  emulator: LcicEmulator;
  db: DatabaseHandle;
  lcic: ResilientLcicClient;
  repository: UsersRepository;
  lock: RegistrationLock;
  users: UsersService;
  close(): Promise<void>;
}

export async function startServiceHarness(options: {
  databaseUrl: string;
  emulator?: LcicEmulator;
  emulatorOptions?: EmulatorOptions;
  poolSize?: number;
  timeoutMs?: number;
  maxQueueMs?: number;
  lockTimeoutMs?: number;
  /** The circuit breaker's options (default: the product's defaults). */
  breaker?: Partial<CircuitBreakerOptions>;
}): Promise<ServiceHarness> {
  const emulator = options.emulator ?? (await startLcicEmulator(options.emulatorOptions ?? {}));
  const db = connectDatabase(options.databaseUrl, { poolSize: options.poolSize ?? 10 });
  const lcic = createResilientLcicClient(
    createLcicClient({ endpoint: emulator.url, ...emulator.credentials, timeoutMs: options.timeoutMs ?? 2_000 }),
    {
      pacer: createPostgresPacer(db.db, { maxQueueMs: options.maxQueueMs ?? 5_000 }),
      breaker: new CircuitBreaker(options.breaker ?? {}),
      maxQueueMs: options.maxQueueMs ?? 5_000,
    },
  );
  const repository = new UsersRepository(db.db);
  const lock = new RegistrationLock(db.openSession);
  const users = new UsersService({
    repository,
    lock,
    lcic,
    cipher: new TokenCipher([randomBytes(32)]),
    logger: createLogger({ level: "silent" }),
    sdkAppId: emulator.sdkAppIds[0]!,
    sdkAppIds: emulator.sdkAppIds,
    ...(options.lockTimeoutMs !== undefined ? { lockTimeoutMs: options.lockTimeoutMs } : {}),
  });
  return {
    emulator,
    db,
    lcic,
    repository,
    lock,
    users,
    async close() {
      await lock.close();
      await db.close();
      if (!options.emulator) await emulator.close();
    },
  };
}
