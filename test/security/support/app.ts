/**
 * A live server for security tests: its own database, its own LCIC emulator, port 0 on loopback,
 * configured through `loadConfig` from an env object, logging into a buffer the test can search.
 */
import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import { createApp, type App } from "../../../src/app.js";
import { createAuthenticator, type AuthenticatorOptions } from "../../../src/auth/jwt.js";
import { loadConfig, type Config } from "../../../src/config.js";
import type { DatabaseHandle } from "../../../src/db/client.js";
import { createLogger } from "../../../src/logger.js";
import { createTestDatabase } from "../../support/database.js";
import { laneEnv } from "../../support/lane.js";
import { startTestLcic, type TestLcic } from "../../support/lcic.js";

export interface SecureTestApp {
  app: App;
  config: Config;
  url: string;
  endpoint: string;
  lcic: TestLcic;
  db: DatabaseHandle & { url: string };
  /** Everything the server logged so far, as one string of JSON lines. */
  logs(): string;
  /** POST a GraphQL operation as JSON. */
  gql(body: unknown, headers?: Record<string, string>): Promise<GqlResponse>;
  /** Total LCIC requests the emulator received. */
  lcicCalls(): number;
  /** Rows in classroom_users and registration_rate_limits. */
  rows(): Promise<{ users: number; rateLimits: number }>;
  close(): Promise<void>;
}

export interface GqlResponse {
  status: number;
  headers: Headers;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
  text: string;
}

export async function startSecureApp(
  env: Record<string, string> = {},
  options: { authenticatorOptions?: AuthenticatorOptions; shareWith?: SecureTestApp } = {},
): Promise<SecureTestApp> {
  // `shareWith`: a second replica on the same database and LCIC, as behind a load balancer.
  const db = options.shareWith?.db ?? (await createTestDatabase());
  const lcic = options.shareWith?.lcic ?? (await startTestLcic());
  const owned = !options.shareWith;
  const config = loadConfig({
    HOST: "127.0.0.1",
    PORT: "0",
    // Production mode requires it; the app itself is handed `db.url` directly.
    DATABASE_URL: db.url,
    TOKEN_ENCRYPTION_KEY: options.shareWith?.config.tokenEncryptionKeys?.[0]?.toString("base64") ?? randomBytes(32).toString("base64"),
    TOKEN_WARMING: "false",
    ...laneEnv(),
    ...env,
  });
  let logged = "";
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      logged += chunk.toString();
      callback();
    },
  });
  const logger = createLogger({ level: "trace", destination });
  let app: App;
  try {
    app = createApp({
      config,
      logger,
      databaseUrl: db.url,
      lcic: lcic.client,
      tokenKeys: config.tokenEncryptionKeys!,
      ...(options.authenticatorOptions ? { authenticator: createAuthenticator(config.auth, options.authenticatorOptions) } : {}),
    });
  } catch (error) {
    if (owned) {
      await lcic.close();
      await db.close();
    }
    throw error;
  }
  const { url } = await app.server.listen(0, "127.0.0.1");
  const endpoint = `${url}/graphql`;
  return {
    app,
    config,
    url,
    endpoint,
    lcic,
    db,
    logs: () => logged,
    async gql(body, headers = {}) {
      const response = await fetch(endpoint, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/graphql-response+json, application/json", ...headers },
        body: typeof body === "string" ? body : JSON.stringify(body),
      });
      const text = await response.text();
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      return { status: response.status, headers: response.headers, body: parsed, text };
    },
    lcicCalls: () => Object.values(lcic.emulator.counters()).reduce((sum, c) => sum + c.calls, 0),
    async rows() {
      const [users] = await db.sql`select count(*)::int as n from classroom_users`;
      const [limits] = await db.sql`select count(*)::int as n from registration_rate_limits`;
      return { users: users!.n as number, rateLimits: limits!.n as number };
    },
    async close() {
      await app.close(1000);
      if (owned) {
        await lcic.close();
        await db.close();
      }
    },
  };
}

export const REGISTER = /* GraphQL */ `
  mutation Register($input: RegisterClassroomUserInput!) {
    registerClassroomUser(input: $input) {
      __typename
      ... on RegisterClassroomUserSuccess { created token user { userId originId } }
      ... on LcicRateLimitedError { retryAfterMs }
      ... on ClientRateLimitedError { retryAfterMs }
      ... on Error { code message }
    }
  }
`;

export const FIND = /* GraphQL */ `
  query Find($userId: ID, $originId: String) {
    classroomUser(userId: $userId, originId: $originId) {
      __typename
      ... on ClassroomUser { userId originId }
      ... on Error { code message }
    }
  }
`;
