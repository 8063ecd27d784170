/**
 * `npm run roster:import -- FILE [options]`: registers a whole roster through the service's
 * `registerClassroomUsers`, 1,000 users per request, a few requests in flight.
 *
 * Idempotent by originId: running the same file again after a crash or Ctrl-C finishes the job
 * without creating anyone twice (users already registered come back `created: false`).
 */
import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import cliProgress from "cli-progress";
import { stringify } from "csv-stringify/sync";
import { chunkRows, readRoster, type RosterRow } from "./roster-file.js";

const USAGE = `Usage: npm run roster:import -- FILE [options]

FILE is a CSV file with a header (columns originId,name,avatar; others ignored) or a .json array
of { "originId", "name", "avatar" } objects.

Options:
  --url URL            the service's GraphQL endpoint (default http://127.0.0.1:4000/graphql)
  --token JWT          bearer token with the register scope (default: $CLASSROOM_USERS_TOKEN)
  --sdk-app-id ID      LCIC application (default: the service's LCIC_SDK_APP_ID)
  --out FILE           write originId,userId,created,error for every row to this CSV file
  --dry-run            check the file only; send nothing
  --skip-invalid       import the valid rows even when some are invalid (they are reported)
  --concurrency N      requests in flight (default 3)
  -h, --help           this text`;

const MUTATION = /* GraphQL */ `
  mutation RosterImport($input: RegisterClassroomUsersInput!) {
    registerClassroomUsers(input: $input) {
      __typename
      ... on RegisterClassroomUsersSuccess { createdCount existingCount users { originId created user { userId } } }
      ... on ValidationError { fieldErrors { path message } }
      ... on LcicRateLimitedError { retryAfterMs }
      ... on Error { code message }
    }
  }
`;

/** LCIC's BatchRegister cap, and a body well inside the service's default 1 MiB limit. */
const MAX_ITEMS = 1000;
const MAX_BYTES = 900 * 1024;
/** Retries of one chunk on LcicUnavailableError, network failures and 5xx (all safe: idempotent by originId). */
const MAX_RETRIES = 6;

interface RowResult {
  originId: string;
  userId?: string;
  created?: boolean;
  error?: string;
}

class ImportAbort extends Error {}

export async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        url: { type: "string" },
        token: { type: "string" },
        "sdk-app-id": { type: "string" },
        out: { type: "string" },
        "dry-run": { type: "boolean" },
        "skip-invalid": { type: "boolean" },
        concurrency: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = args;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 1) {
    console.error(USAGE);
    return 2;
  }
  const sdkAppId = values["sdk-app-id"] === undefined ? undefined : Number(values["sdk-app-id"]);
  if (sdkAppId !== undefined && !(Number.isSafeInteger(sdkAppId) && sdkAppId > 0)) {
    console.error("--sdk-app-id must be a positive integer");
    return 2;
  }
  const concurrency = Number(values.concurrency ?? 3);
  if (!(Number.isInteger(concurrency) && concurrency >= 1 && concurrency <= 16)) {
    console.error("--concurrency must be 1 to 16");
    return 2;
  }
  const url = values.url ?? "http://127.0.0.1:4000/graphql";
  const token = values.token ?? process.env.CLASSROOM_USERS_TOKEN;

  const file = positionals[0]!;
  let roster;
  try {
    roster = await readRoster(file);
  } catch (error) {
    console.error(`cannot read ${file}: ${(error as Error).message}`);
    return 2;
  }
  for (const p of roster.problems) console.error(`${roster.unit} ${p.line}: ${p.message}`);
  const total = roster.rows.length + roster.problems.length;
  if (roster.problems.length > 0 && !values["skip-invalid"] && !values["dry-run"]) {
    console.error(`${roster.problems.length} of ${total} rows are invalid; nothing was sent (fix them, or pass --skip-invalid to import the rest)`);
    return 1;
  }
  if (values["dry-run"]) {
    console.log(`dry run: ${roster.rows.length} valid, ${roster.problems.length} invalid of ${total} rows; nothing was sent`);
    return roster.problems.length > 0 ? 1 : 0;
  }

  const started = Date.now();
  const results = new Map<string, RowResult>();
  const chunks = chunkRows(roster.rows, MAX_ITEMS, MAX_BYTES);
  const progress = createProgress(roster.rows.length, started);
  let next = 0;
  let aborted: string | undefined;
  const workers = Array.from({ length: Math.min(concurrency, chunks.length) }, async () => {
    while (next < chunks.length && !aborted) {
      const chunk = chunks[next++]!;
      try {
        for (const r of await sendChunk(url, token, sdkAppId, chunk)) results.set(r.originId, r);
      } catch (error) {
        if (error instanceof ImportAbort) aborted = error.message;
        const message = error instanceof Error ? error.message : String(error);
        for (const row of chunk) results.set(row.originId, { originId: row.originId, error: message });
      }
      progress.add(chunk.length);
    }
  });
  await Promise.all(workers);
  progress.stop();

  const rowsOut: RowResult[] = [
    ...roster.rows.map((row) => results.get(row.originId) ?? { originId: row.originId, error: aborted ? `not sent: ${aborted}` : "not sent" }),
    ...roster.problems.map((p) => ({ originId: "", error: `${roster.unit} ${p.line}: ${p.message}` })),
  ];
  const created = rowsOut.filter((r) => r.created === true).length;
  const existing = rowsOut.filter((r) => r.created === false).length;
  const failed = rowsOut.filter((r) => r.error !== undefined).length;
  if (values.out) {
    await writeFile(
      values.out,
      stringify(rowsOut.map((r) => [r.originId, r.userId ?? "", r.created === undefined ? "" : String(r.created), r.error ?? ""]), {
        header: true,
        columns: ["originId", "userId", "created", "error"],
      }),
    );
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`done: ${created} created, ${existing} existing, ${failed} failed of ${total} rows in ${seconds} s${values.out ? `; results in ${values.out}` : ""}`);
  if (aborted) console.error(`stopped: ${aborted}`);
  return failed > 0 ? 1 : 0;
}

/** One request of at most 1,000 users, retried while the service says to wait or is unavailable. */
async function sendChunk(url: string, token: string | undefined, sdkAppId: number | undefined, chunk: RosterRow[]): Promise<RowResult[]> {
  const users = chunk.map((r) => ({ originId: r.originId, ...(r.name !== undefined ? { name: r.name } : {}), ...(r.avatar !== undefined ? { avatar: r.avatar } : {}) }));
  const body = JSON.stringify({ query: MUTATION, variables: { input: { users, ...(sdkAppId !== undefined ? { sdkAppId } : {}) } } });
  for (let attempt = 0; ; attempt++) {
    let wait: number;
    let reason: string;
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body,
      });
      if (res.status === 401 || res.status === 403) throw new ImportAbort(`the service refused the credentials (HTTP ${res.status}); pass --token or set CLASSROOM_USERS_TOKEN`);
      const json = (await res.json().catch(() => undefined)) as { data?: { registerClassroomUsers?: any }; errors?: Array<{ message: string; extensions?: { code?: string } }> } | undefined;
      const result = json?.data?.registerClassroomUsers;
      if (result?.__typename === "RegisterClassroomUsersSuccess") {
        return (result.users as Array<{ originId: string; created: boolean; user: { userId: string } }>).map((u) => ({ originId: u.originId, userId: u.user.userId, created: u.created }));
      }
      if (result?.__typename === "LcicRateLimitedError") {
        // Not a failure: the service tells us when to come back. Does not count as a retry.
        await sleep(Math.max(50, Number(result.retryAfterMs) || 1000));
        attempt--;
        continue;
      }
      if (result?.__typename === "ValidationError") {
        const messages = (result.fieldErrors as Array<{ path: string[]; message: string }>).map((e) => `${e.path.slice(2).join(".")}: ${e.message}`);
        return chunk.map((r) => ({ originId: r.originId, error: `refused: ${messages.join("; ")}` }));
      }
      if (result && result.__typename !== "LcicUnavailableError") {
        return chunk.map((r) => ({ originId: r.originId, error: `${result.__typename} ${result.code ?? ""}: ${result.message ?? ""}`.trim() }));
      }
      const forbidden = json?.errors?.find((e) => e.extensions?.code === "FORBIDDEN" || e.extensions?.code === "UNAUTHENTICATED");
      if (forbidden) throw new ImportAbort(`${forbidden.message} (the register scope is needed)`);
      if (!result && res.status < 500) throw new ImportAbort(`unexpected answer (HTTP ${res.status}): ${json?.errors?.[0]?.message ?? "no data"}`);
      reason = result ? `LcicUnavailableError ${result.code}` : `HTTP ${res.status}`;
    } catch (error) {
      if (error instanceof ImportAbort) throw error;
      reason = (error as Error).message;
    }
    if (attempt >= MAX_RETRIES) throw new Error(`gave up after ${attempt + 1} attempts: ${reason}`);
    wait = Math.min(500 * 2 ** attempt, 10_000) * (0.5 + Math.random() / 2);
    await sleep(wait);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A progress bar on a terminal; plain lines (at most one a second, and the last) otherwise. */
function createProgress(total: number, started: number): { add(n: number): void; stop(): void } {
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: "importing [{bar}] {value}/{total} | {speed} users/s | ETA {eta_formatted}", stream: process.stderr, hideCursor: true, etaBuffer: 5 },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { speed: "0" });
    let done = 0;
    return {
      add(n) {
        done += n;
        bar.update(done, { speed: (done / Math.max(0.001, (Date.now() - started) / 1000)).toFixed(0) });
      },
      stop: () => bar.stop(),
    };
  }
  let done = 0;
  let lastLine = 0;
  return {
    add(n) {
      done += n;
      const now = Date.now();
      if (now - lastLine < 1000 && done < total) return;
      lastLine = now;
      const rate = done / Math.max(0.001, (now - started) / 1000);
      const eta = rate > 0 ? Math.ceil((total - done) / rate) : 0;
      console.log(`progress: ${done}/${total} (${Math.floor((done / Math.max(1, total)) * 100)}%), ${rate.toFixed(0)} users/s, ETA ${eta} s`);
    },
    stop() {},
  };
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`roster:import failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
