/**
 * One line for an end-to-end test: a real listening server built by `createApp` (config from a
 * minimal environment), its own migrated database, its own LCIC emulator reached through the real
 * SDK, and a `gql()` that speaks HTTP to it.
 */
import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import { createApp, type App } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import { createLogger } from "../../src/logger.js";
import type { EmulatorOptions } from "../../src/lcic/emulator/index.js";
import { createTestDatabase } from "./database.js";
import { laneEnv } from "./lane.js";
import { startTestLcic, type TestLcic } from "./lcic.js";

export const APP = 1400000001;

export interface GraphQLResponse<T = Record<string, any>> {
  status: number;
  data?: T;
  errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
}

export interface TestServer {
  url: string;
  graphqlUrl: string;
  app: App;
  lcic: TestLcic;
  emulator: TestLcic["emulator"];
  db: Awaited<ReturnType<typeof createTestDatabase>>;
  /** Log lines captured when `logLevel` was given. */
  logs: string[];
  gql<T = Record<string, any>>(query: string, variables?: Record<string, unknown>): Promise<GraphQLResponse<T>>;
  /** Raw POST /graphql with any body: for malformed requests. */
  post(body: string, headers?: Record<string, string>): Promise<Response>;
  /** Rows of classroom_users, oldest first. */
  rows(): Promise<Array<Record<string, any>>>;
  close(): Promise<void>;
}

export interface TestServerOptions {
  emulatorOptions?: EmulatorOptions & { timeoutMs?: number };
  /** Extra environment for loadConfig (LCIC_SDK_APP_IDS, ...). */
  configEnv?: Record<string, string>;
  /** Overrides the credentials the service signs with (e.g. a wrong secret key). */
  credentials?: { secretId?: string; secretKey?: string };
  /** Overrides the database URL the server uses (the test database is still created). */
  databaseUrl?: string;
  /** Token encryption keys; default one random 32-byte key. */
  tokenKeys?: Buffer[];
  /** Another replica: share that server's database and emulator (closed by that server, not this one). */
  shareWith?: TestServer;
  /** Capture the service's log lines (JSON) at this level into `logs`. Default: silent. */
  logLevel?: string;
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const shared = options.shareWith;
  const lcic = shared ? shared.lcic : await startTestLcic({ sdkAppIds: [APP], ...options.emulatorOptions });
  const db = shared ? shared.db : await createTestDatabase();
  const config = loadConfig({ LCIC_SDK_APP_ID: String(APP), LOG_LEVEL: "silent", DATABASE_POOL_SIZE: "5", TOKEN_WARMING: "false", ...laneEnv(), ...options.configEnv });
  const logs: string[] = [];
  const capture = new Writable({
    write(chunk, _encoding, done) {
      logs.push(...String(chunk).split("\n").filter(Boolean));
      done();
    },
  });
  const logger = options.logLevel
    ? createLogger({ level: options.logLevel, destination: capture })
    : createLogger({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
  const app = createApp({
    config,
    logger,
    databaseUrl: options.databaseUrl ?? db.url,
    lcicCredentials: {
      endpoint: lcic.emulator.url,
      secretId: options.credentials?.secretId ?? lcic.emulator.credentials.secretId,
      secretKey: options.credentials?.secretKey ?? lcic.emulator.credentials.secretKey,
    },
    tokenKeys: options.tokenKeys ?? [randomBytes(32)],
    // OTEL_EXPORTER_OTLP_ENDPOINT in configEnv: traces on, as main.ts does.
    ...(config.tracing ? { tracing: (await import("../../src/observability/tracing-sdk.js")).createTracing(config.tracing) } : {}),
  });
  const { url } = await app.server.listen(0, "127.0.0.1");
  const graphqlUrl = `${url}/graphql`;

  const post = (body: string, headers: Record<string, string> = {}) =>
    fetch(graphqlUrl, { method: "POST", headers: { "content-type": "application/json", accept: "application/json", ...headers }, body });

  return {
    url,
    graphqlUrl,
    app,
    lcic,
    emulator: lcic.emulator,
    db,
    logs,
    post,
    async gql(query, variables) {
      const res = await post(JSON.stringify({ query, variables }));
      const json = (await res.json()) as { data?: any; errors?: any };
      return { status: res.status, ...json };
    },
    async rows() {
      return db.sql.unsafe(`select * from classroom_users order by id`) as unknown as Promise<Array<Record<string, any>>>;
    },
    async close() {
      await app.close(1000);
      if (shared) return;
      await db.close();
      await lcic.close();
    },
  };
}

export const REGISTER = /* GraphQL */ `
  mutation Register($input: RegisterClassroomUserInput!) {
    registerClassroomUser(input: $input) {
      __typename
      ... on RegisterClassroomUserSuccess {
        created
        token
        tokenExpiresAt
        requestId
        user { userId sdkAppId originId name avatar createdAt updatedAt }
      }
      ... on Error { code message }
      ... on ValidationError { fieldErrors { path message } }
      ... on InvalidSdkAppIdError { sdkAppId requestId }
      ... on OriginIdExistsError { originId userId requestId }
      ... on LcicRateLimitedError { retryAfterMs requestId }
      ... on ClientRateLimitedError { retryAfterMs }
      ... on RegistrationBusyError { waitedMs }
      ... on LcicUnavailableError { requestId }
      ... on LcicError { requestId }
    }
  }
`;

export const FIND = /* GraphQL */ `
  query Find($userId: ID, $originId: String, $sdkAppId: Int) {
    classroomUser(userId: $userId, originId: $originId, sdkAppId: $sdkAppId) {
      __typename
      ... on ClassroomUser { userId sdkAppId originId name avatar createdAt updatedAt }
      ... on Error { code message }
      ... on ValidationError { fieldErrors { path message } }
      ... on ClassroomUserNotFoundError { lookedUpUserId: userId lookedUpOriginId: originId requestId }
      ... on InvalidSdkAppIdError { sdkAppId requestId }
      ... on LcicRateLimitedError { retryAfterMs requestId }
      ... on ClientRateLimitedError { retryAfterMs }
      ... on LcicUnavailableError { requestId }
      ... on LcicError { requestId }
    }
  }
`;

export async function register(server: TestServer, input: Record<string, unknown>) {
  const res = await server.gql(REGISTER, { input });
  if (res.errors) throw new Error(`GraphQL errors: ${JSON.stringify(res.errors)}`);
  return res.data!.registerClassroomUser as Record<string, any>;
}

export async function find(server: TestServer, args: Record<string, unknown>) {
  const res = await server.gql(FIND, args);
  if (res.errors) throw new Error(`GraphQL errors: ${JSON.stringify(res.errors)}`);
  return res.data!.classroomUser as Record<string, any>;
}
