// PostgreSQL unreachable without refusing (a network partition: packets vanish, connections hang):
// no GraphQL request hangs past DATABASE_UNAVAILABLE_TIMEOUT_MS, /readyz says 503 meanwhile, and
// the service serves again once the network heals.
import net from "node:net";
import { afterAll, expect, it } from "vitest";
import { createTestDatabase } from "../support/database.js";
import { FIND, register, startTestServer } from "../support/server.js";

const TIMEOUT_MS = 1500;

/** A TCP proxy to PostgreSQL whose forwarding can be paused: paused, bytes are held, nothing is answered. */
async function startPausableProxy(target: { host: string; port: number }) {
  let paused = false;
  const held: Array<() => void> = [];
  const sockets = new Set<net.Socket>();
  const pipe = (from: net.Socket, to: net.Socket) =>
    from.on("data", (chunk: Buffer) => {
      if (paused) held.push(() => to.write(chunk));
      else to.write(chunk);
    });
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => undefined);
      s.on("close", () => (client.destroy(), upstream.destroy()));
    }
    pipe(client, upstream);
    pipe(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    pause: () => (paused = true),
    resume: () => {
      paused = false;
      for (const send of held.splice(0)) send();
    },
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const db = await createTestDatabase();
const target = new URL(db.url);
const proxy = await startPausableProxy({ host: target.hostname, port: Number(target.port) });
const proxied = new URL(db.url);
proxied.port = String(proxy.port);
const server = await startTestServer({ databaseUrl: proxied.toString(), configEnv: { DATABASE_UNAVAILABLE_TIMEOUT_MS: String(TIMEOUT_MS), RECONCILER_ENABLED: "false" } });
afterAll(async () => {
  await server.close();
  await proxy.close();
  await db.close();
});

it("no request hangs past DATABASE_UNAVAILABLE_TIMEOUT_MS while the database is partitioned away", async () => {
  const stored = await register(server, { originId: "partitioned" });
  expect(stored.created).toBe(true);

  proxy.pause();
  const started = Date.now();
  const [lookup, registration, ready] = await Promise.all([
    server.gql(FIND, { originId: "partitioned" }),
    server.gql(`mutation { registerClassroomUser(input: { originId: "during-partition" }) { __typename } }`),
    fetch(`${server.url}/readyz`).then((r) => ({ status: r.status, ms: Date.now() - started })),
  ]);
  const elapsed = Date.now() - started;
  expect(ready.status).toBe(503);
  expect(ready.ms).toBeLessThan(2000);
  for (const res of [lookup, registration]) {
    expect(res.errors?.[0]).toMatchObject({ message: "The database is unavailable; retry shortly.", extensions: { code: "DATABASE_UNAVAILABLE" } });
  }
  // The deadline plus its one-second ping, not the minutes a TCP connection can hang.
  expect(elapsed).toBeLessThan(TIMEOUT_MS + 2000);

  proxy.resume();
  const found = await server.gql(FIND, { originId: "partitioned" });
  expect(found.data?.classroomUser.__typename).toBe("ClassroomUser");
  expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
}, 30_000);

it("an execution slow for another reason (LCIC) while the database answers is not cut off at the deadline", async () => {
  // RegisterUser takes more than twice the deadline: the watchdog finds the registration due twice,
  // pings, and gives it more time each time (it moves to the end of its list); lookups meanwhile pass.
  server.emulator.injectFault({ action: "RegisterUser", mode: "latency", ms: TIMEOUT_MS * 2 + 500 });
  const started = Date.now();
  const slow = register(server, { originId: "slow-lcic" });
  const lookups = await Promise.all(Array.from({ length: 5 }, () => server.gql(FIND, { originId: "partitioned" })));
  for (const res of lookups) expect(res.data?.classroomUser.__typename).toBe("ClassroomUser");
  const stored = await slow;
  expect(stored.created).toBe(true);
  expect(Date.now() - started).toBeGreaterThanOrEqual(TIMEOUT_MS * 2);
}, 30_000);
