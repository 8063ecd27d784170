/**
 * What every benchmark needs: a throw-away embedded PostgreSQL (migrated, seeded with `users` stored
 * users), the LCIC emulator, and the environment a product process is started with.
 *
 * Seeded users: originId `bench-<i>`, userId `bench-user-<i>`, in the emulator's first SdkAppId.
 */
import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { SignJWT } from "jose";
import postgres from "postgres";
import { startEmbeddedPostgres } from "../../src/db/embedded.js";
import { applyMigrations } from "../../src/db/migrate.js";
import { startLcicEmulator, type LcicEmulator } from "../../src/lcic/emulator/index.js";
import type { LoadSpec } from "./processes.js";

/** BENCH_QUICK=1: a smoke test of the benchmark itself (figures not comparable, targets not enforced). */
export const QUICK = process.env.BENCH_QUICK === "1";

export const settings = {
  users: Number(process.env.BENCH_USERS ?? (QUICK ? 10_000 : 100_000)),
  connections: Number(process.env.BENCH_CONNECTIONS ?? 100),
  warmupS: Number(process.env.BENCH_WARMUP_S ?? (QUICK ? 1 : 3)),
  durationS: Number(process.env.BENCH_DURATION_S ?? (QUICK ? 3 : 10)),
  rounds: Number(process.env.BENCH_ROUNDS ?? (QUICK ? 1 : 3)),
  poolSize: Number(process.env.BENCH_POOL_SIZE ?? 10),
};

export const JWT_SECRET = "bench-secret-of-at-least-thirty-two-bytes!";

/** HS256 bearer tokens (signed with JWT_SECRET, valid 1 h) for `subjects` distinct subjects with the read scope. */
export async function readerTokens(subjects = 300): Promise<string[]> {
  const key = new TextEncoder().encode(JWT_SECRET);
  const exp = Math.floor(Date.now() / 1000) + 3600;
  return Promise.all(
    Array.from({ length: subjects }, (_, i) =>
      new SignJWT({ scope: "classroom-users:read" }).setProtectedHeader({ alg: "HS256", typ: "JWT" }).setSubject(`bench-subject-${i}`).setExpirationTime(exp).sign(key),
    ),
  );
}

/** A load of `kind` against the environment's seeded users, with the bench's settings. */
export function loadSpec(env: Pick<BenchEnvironment, "sdkAppId">, kind: LoadSpec["kind"], extra: Partial<LoadSpec> = {}): LoadSpec {
  return {
    kind,
    users: settings.users,
    sdkAppId: env.sdkAppId,
    connections: settings.connections,
    warmupS: settings.warmupS,
    durationS: settings.durationS,
    ...extra,
  };
}

export interface BenchEnvironment {
  databaseUrl: string;
  emulator: LcicEmulator;
  sdkAppId: number;
  sql: postgres.Sql;
  /** Environment for a product process (add PORT, AUTH_*). */
  productEnv: Record<string, string>;
  close(): Promise<void>;
}

export async function startEnvironment(options: { emulatorLog?: (line: string) => void; now?: () => number } = {}): Promise<BenchEnvironment> {
  const dir = await mkdtemp(path.join(tmpdir(), "classroom-users-bench-"));
  await chmod(dir, 0o755);
  const pg = await startEmbeddedPostgres({ dataDir: path.join(dir, "pg"), persistent: false, fast: true });
  await pg.createDatabase("bench");
  const databaseUrl = pg.urlFor("bench");
  await applyMigrations(databaseUrl);
  const emulator = await startLcicEmulator({ ...(options.emulatorLog ? { log: options.emulatorLog } : {}), ...(options.now ? { now: options.now } : {}) });
  const sdkAppId = emulator.sdkAppIds[0]!;
  const sql = postgres(databaseUrl, { max: 2, onnotice: () => {} });
  await sql`
    insert into classroom_users (sdk_app_id, origin_id, user_id, name, status)
    select ${sdkAppId}, 'bench-' || i, 'bench-user-' || i, 'Bench User ' || i, 'registered'
    from generate_series(0, ${settings.users - 1}::int) as i`;
  await sql`analyze classroom_users`;
  const productEnv: Record<string, string> = {
    NODE_ENV: "production",
    HOST: "127.0.0.1",
    DATABASE_URL: databaseUrl,
    DATABASE_POOL_SIZE: String(settings.poolSize),
    DATABASE_MIGRATE_ON_START: "false",
    LCIC_ENDPOINT: emulator.url,
    TENCENTCLOUD_SECRET_ID: emulator.credentials.secretId,
    TENCENTCLOUD_SECRET_KEY: emulator.credentials.secretKey,
    LCIC_SDK_APP_ID: String(sdkAppId),
    TOKEN_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
    REGISTRATION_RATE_LIMIT_PER_MINUTE: "1000000",
    LOG_LEVEL: "warn",
    // The seeded users exist only in PostgreSQL, not in the emulator: warming their tokens would spend
    // the measured window on LoginUser calls that fail (and its queue's polling would be counted as
    // statements of _entities requests). bench/roster.ts measures warming on real users.
    TOKEN_WARMING: "false",
  };
  return {
    databaseUrl,
    emulator,
    sdkAppId,
    sql,
    productEnv,
    async close() {
      await sql.end({ timeout: 1 });
      await emulator.close();
      await pg.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
