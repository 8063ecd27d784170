// startEmbeddedPostgres without a port: the one chosen is free when chosen, not when PostgreSQL binds
// it (another process's bind or outgoing connection can take it in between; a zero-config start failed
// so in CI with "PostgreSQL exited"). A taken chosen port is replaced; a port the caller gave is not.
import { chmod, mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import postgres from "postgres";
import { afterAll, beforeAll, expect, it } from "vitest";
import { freePort, startEmbeddedPostgres } from "../../src/db/embedded.js";

const root = await mkdtemp(path.join(tmpdir(), "classroom-users-embedded-port-"));
await chmod(root, 0o755);
afterAll(() => rm(root, { recursive: true, force: true }));

/** A port held by a listener of this process for the whole file. */
let taken: number;
const holder = net.createServer();
beforeAll(async () => {
  taken = await freePort();
  await new Promise<void>((resolve) => holder.listen(taken, "127.0.0.1", resolve));
});
afterAll(() => new Promise<void>((resolve) => holder.close(() => resolve())));

it("a chosen port taken before PostgreSQL binds it: another is chosen, and the cluster serves on it", { timeout: 60_000 }, async () => {
  const picked: number[] = [];
  const pickPort = async () => {
    const port = picked.length === 0 ? taken : await freePort();
    picked.push(port);
    return port;
  };
  const pg = await startEmbeddedPostgres({ dataDir: path.join(root, "retried"), persistent: false, fast: true, pickPort });
  try {
    expect(picked).toHaveLength(2);
    expect(picked[0]).toBe(taken);
    expect(pg.url).toContain(`:${picked[1]}/`);
    const sql = postgres(pg.url, { max: 1, onnotice: () => {} });
    try {
      expect((await sql<{ one: number }[]>`select 1 as one`)[0]!.one).toBe(1);
    } finally {
      await sql.end({ timeout: 5 });
    }
  } finally {
    await pg.stop();
  }
});

it("gives up after 5 chosen ports that are all taken", { timeout: 60_000 }, async () => {
  let picks = 0;
  const pickPort = async () => {
    picks++;
    return taken;
  };
  await expect(startEmbeddedPostgres({ dataDir: path.join(root, "always-taken"), persistent: false, fast: true, pickPort })).rejects.toBeUndefined();
  expect(picks).toBe(5);
});

it("a port given by the caller is never changed: taken, the start fails", { timeout: 60_000 }, async () => {
  let picks = 0;
  const pickPort = async () => {
    picks++;
    return freePort();
  };
  await expect(startEmbeddedPostgres({ dataDir: path.join(root, "given"), persistent: false, fast: true, port: taken, pickPort })).rejects.toBeUndefined();
  expect(picks).toBe(0);
});
