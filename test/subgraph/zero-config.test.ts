// The zero-configuration start as a user runs it: `npm start` with nothing but DATA_DIR and PORT,
// then register and look up over HTTP, SIGTERM to npm's pid (as a supervisor or checker sends it:
// the service must get it, not be orphaned), and a second start that still has the data.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect, it, onTestFinished } from "vitest";
import { descendants } from "../../bench/support/processes.js";
import { freePort } from "../../src/db/embedded.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const READY_WITHIN_MS = 40_000;
// mkdtemp makes a 0700 directory, like `mktemp -d` or /root: as root, the service itself must let the
// `postgres` system user through to its data.
const tmpRoot = await mkdtemp(path.join(tmpdir(), "classroom-users-zero-config-"));
const dataDir = path.join(tmpRoot, "data");
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await rm(tmpRoot, { recursive: true, force: true });
});

interface Started {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<number | null>;
}

function spawnMain(port: number) {
  const env: Record<string, string> = {};
  // Only what a shell would have: no LCIC, database or key settings leak in from the test run.
  for (const key of ["PATH", "HOME", "LANG", "TMPDIR"]) if (process.env[key]) env[key] = process.env[key]!;
  const child = spawn("npm", ["start", "--silent"], {
    cwd: ROOT,
    env: { ...env, DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: "info" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, output: () => out, exited };
}

async function start(port: number): Promise<Started> {
  const { child, output, exited } = spawnMain(port);
  const out = () => output();
  await new Promise<void>((resolve, reject) => {
    // A `tsx` start beside other test files on 2 cores can take well over 15 s.
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      // Stopped before the next test starts on the same DATA_DIR (a stray instance would hold it).
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      void exited.then(() => {
        clearTimeout(killer);
        reject(new Error(`no "ready" log line within ${READY_WITHIN_MS / 1000} s:\n${out()}`));
      });
    }, READY_WITHIN_MS);
    const check = () => {
      if (/classroom-users ready/.test(out())) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on("data", check);
    void exited.then((code) => {
      clearTimeout(timer);
      if (!timedOut) reject(new Error(`exited with ${code} before ready:\n${out()}`));
    });
  });
  return { child, url: `http://127.0.0.1:${port}`, output, exited };
}

async function gql(url: string, query: string, variables?: Record<string, unknown>) {
  const res = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: any }).data;
}

/** A new start on the same DATA_DIR comes up, serves the user the first test stored, and stops cleanly. */
async function expectNextStartServesStoredUser(): Promise<void> {
  const next = await start(await freePort());
  try {
    expect((await gql(next.url, FIND, { originId: "zero-1" })).classroomUser).toMatchObject({ __typename: "ClassroomUser", originId: "zero-1" });
  } finally {
    next.child.kill("SIGTERM");
    expect(await next.exited).toBe(0);
  }
}

/** The service's own process under `npm start`: the deepest process below npm running src/main.ts. */
function servicePid(npmPid: number): number {
  const runsMain = (pid: number) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("src/main.ts");
    } catch {
      return false; // gone meanwhile
    }
  };
  const mains = descendants(npmPid).filter(runsMain);
  const deepest = mains.filter((pid) => !descendants(pid).some((child) => mains.includes(child)));
  expect(deepest).toHaveLength(1);
  return deepest[0]!;
}

const REGISTER = `mutation($input: RegisterClassroomUserInput!) { registerClassroomUser(input: $input) {
  __typename ... on RegisterClassroomUserSuccess { created token user { userId originId name } } ... on Error { code message } } }`;
const FIND = `query($originId: String) { classroomUser(originId: $originId) { __typename ... on ClassroomUser { userId originId name } ... on Error { code message } } }`;

it("starts with no configuration, serves, stops cleanly on SIGTERM and keeps its data across restarts", { timeout: 150_000 }, async () => {
  const port = await freePort();
  const first = await start(port);
  // Stopped even when an expectation below fails: a stray instance would hold DATA_DIR for the next tests.
  onTestFinished(() => {
    if (first.child.exitCode === null && first.child.signalCode === null) first.child.kill("SIGTERM");
  });
  expect(first.output()).toMatch(/No DATABASE_URL set: started an embedded PostgreSQL/);
  expect(first.output()).toMatch(/using the built-in LCIC emulator/);
  if (process.getuid?.() === 0) {
    expect(first.output()).toMatch(/made traversable/);
    expect((await stat(tmpRoot)).mode & 0o001).toBe(0o001);
  }

  const reg = (await gql(first.url, REGISTER, { input: { originId: "zero-1", name: "Zero Config" } })).registerClassroomUser;
  expect(reg).toMatchObject({ __typename: "RegisterClassroomUserSuccess", created: true, user: { originId: "zero-1", name: "Zero Config" } });
  expect((await gql(first.url, FIND, { originId: "zero-1" })).classroomUser).toEqual({ __typename: "ClassroomUser", ...reg.user });
  expect((await fetch(`${first.url}/readyz`)).status).toBe(200);
  // Tokens never reach the log.
  expect(first.output()).not.toContain(reg.token);

  first.child.kill("SIGTERM");
  expect(await first.exited).toBe(0);
  expect(first.output()).toMatch(/"stopped"/);

  const second = await start(port);
  try {
    expect((await gql(second.url, FIND, { originId: "zero-1" })).classroomUser).toEqual({ __typename: "ClassroomUser", ...reg.user });
    // The stored token is still readable (the local key persisted) and the emulator still knows the user.
    const again = (await gql(second.url, REGISTER, { input: { originId: "zero-1" } })).registerClassroomUser;
    expect(again).toMatchObject({ __typename: "RegisterClassroomUserSuccess", created: false, token: reg.token, user: reg.user });
    expect(second.output()).not.toMatch(/token unreadable/);
  } finally {
    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
  }
});

it("a busy port: exits 1 naming the address, and the data directory stays usable", { timeout: 90_000 }, async () => {
  const blocker = net.createServer();
  const port = await freePort();
  await new Promise<void>((resolve) => blocker.listen(port, "127.0.0.1", resolve));
  try {
    const failed = spawnMain(port);
    expect(await failed.exited).toBe(1);
    expect(failed.output()).toMatch(/failed to start: listen EADDRINUSE.*127\.0\.0\.1:\d+/);
  } finally {
    await new Promise((resolve) => blocker.close(resolve));
  }
  await expectNextStartServesStoredUser();
});

it("a second instance on the same DATA_DIR exits 1 and says why", { timeout: 90_000 }, async () => {
  const first = await start(await freePort());
  try {
    const second = spawnMain(await freePort());
    expect(await second.exited).toBe(1);
    expect(second.output()).toMatch(/could not start the embedded PostgreSQL in .*: it is already running there/);
    // The first one is unharmed.
    expect((await gql(first.url, FIND, { originId: "zero-1" })).classroomUser.__typename).toBe("ClassroomUser");
  } finally {
    first.child.kill("SIGTERM");
    expect(await first.exited).toBe(0);
  }
});

it("a second signal exits at once, and its PostgreSQL does not outlive it: the next start on the same DATA_DIR works", { timeout: 120_000 }, async () => {
  const port = await freePort();
  const first = await start(port);
  // A request whose body never finishes keeps the first signal's graceful shutdown waiting (up to its
  // 10 s grace), so the second signal surely lands while it runs: on a busy machine an idle service can
  // finish its shutdown before the test has even seen "shutting down".
  const socket = net.connect(port, "127.0.0.1");
  onTestFinished(() => void socket.destroy());
  await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  socket.write("POST /graphql HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"query\":");
  // A second signal (a second Ctrl-C, a supervisor repeating itself) while the first's graceful shutdown
  // still runs: the service exits without its cleanups. (Sent once the first is seen: two pending
  // signals of one kind are delivered as one.)
  first.child.kill("SIGTERM");
  await expect.poll(() => first.output(), { timeout: 10_000, interval: 5 }).toMatch(/shutting down/);
  first.child.kill("SIGTERM");
  expect(await first.exited).not.toBe(0);
  expect(first.output()).toMatch(/second signal: exiting now/);
  expect(first.output()).not.toMatch(/"stopped"/);
  await expectNextStartServesStoredUser();
});

it("SIGTERM reaches the service even while it is not running for a moment (a busy machine): a graceful stop, not a kill", { timeout: 120_000 }, async () => {
  const first = await start(await freePort());
  // Until 2026-12-02 `npm start` ran the `tsx` CLI, which relays a signal to the node process it spawns
  // and SIGKILLs it unless that process reports the signal back within 30 ms: a service not scheduled
  // for that long was killed without its shutdown (PostgreSQL left running). Now npm's child is the
  // service itself (`node --import tsx`). Stopping it for 300 ms stands in for the busy machine.
  const service = servicePid(first.child.pid!);
  onTestFinished(() => {
    try {
      process.kill(service, "SIGCONT");
    } catch {
      // already gone
    }
  });
  process.kill(service, "SIGSTOP");
  first.child.kill("SIGTERM");
  await new Promise((r) => setTimeout(r, 300));
  process.kill(service, "SIGCONT");
  expect(await first.exited).toBe(0);
  expect(first.output()).toMatch(/shutting down/);
  expect(first.output()).toMatch(/"stopped"/);
  await expectNextStartServesStoredUser();
});
