/**
 * A failing query is logged with its statement, never with its parameter values (issue 9, item 11):
 * drizzle's DrizzleQueryError puts them in its message and `params`, postgres.js in `parameters`
 * and `args`, PostgreSQL in `detail`.
 */
import { Writable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { classroomUsers } from "../../src/db/schema.js";
import { createLogger } from "../../src/logger.js";
import { createTestDatabase } from "../support/database.js";

const CIPHERTEXT = "v1.CIPHERTEXT-SECRET-abcdef";
const NAME = "Ada Secretname";
const ORIGIN = "origin-secret-42";

describe("database errors in the log", () => {
  const database = createTestDatabase();
  afterAll(async () => (await database).close());

  it("hold the statement but no parameter value", async () => {
    const { db } = await database;
    const row = { sdkAppId: 1400000001, originId: ORIGIN, name: NAME, tokenCiphertext: CIPHERTEXT };
    await db.insert(classroomUsers).values(row);
    const error = await db.insert(classroomUsers).values(row).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    // The raw error does carry them: this is what must not reach the log.
    expect(JSON.stringify(error, Object.getOwnPropertyNames(error)) + String((error as Error).message)).toContain(CIPHERTEXT);

    const lines: string[] = [];
    const logger = createLogger({
      level: "info",
      destination: new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    });
    logger.error({ err: error }, "query failed");
    logger.warn({ error }, "query failed again");
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      expect(line).toContain("insert into");
      expect(line).toContain("classroom_users");
      // The SQLSTATE and constraint say what failed.
      expect(line).toContain("classroom_users_sdk_app_id_origin_id_key");
      for (const value of [CIPHERTEXT, NAME, ORIGIN]) expect(line).not.toContain(value);
    }
  });
});
