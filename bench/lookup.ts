/**
 * Lookups against a bare baseline in the same run (issue 12's targets), and memory of both starts.
 *
 * Servers (child processes, all on one embedded PostgreSQL seeded with BENCH_USERS users):
 * - baseline: bench/support/baseline-server.mjs, node:http + the same prepared postgres.js query;
 * - the product as production runs it (`npm run build`, `node dist/main.js`, NODE_ENV=production),
 *   once with AUTH_MODE=jwt (HS256, 300 subjects with the read scope) and once with AUTH_MODE=none,
 *   then both again with HTTP_FAST_LANE flipped from its default, and the JWT one with LOOKUP_BATCHING=false
 *   (one statement per lookup, as the baseline does) (levers, reported, not targets).
 * Load: autocannon in its own process, BENCH_CONNECTIONS connections, random originIds, warm-up, then
 * the measured window on the same connections (opened once every connection has been answered: see
 * bench/support/load-worker.mjs); the servers take turns within each round (interleaved), BENCH_ROUNDS rounds.
 *
 * Then `_entities` with 100 representations (half by userId, half by sdkAppId + originId): entities
 * resolved per second, and the SQL statements one such request executes (counted exactly by a proxy).
 * Last, `npm start` (tsx): resident memory after start and under the same lookup load, beside the built start's.
 */
import { QUICK, settings, startEnvironment, JWT_SECRET, loadSpec, readerTokens, type BenchEnvironment } from "./support/environment.js";
import { buildProduct, loadFailures, postJson, runLoad, startBaseline, startProduct, type LoadResult, type LoadSpec, type ServerProcess } from "./support/processes.js";
import { DEFAULT_HTTP_FAST_LANE } from "../src/config.js";
import { check, finish, fmt, mean } from "./support/report.js";
import { startStatementCounter } from "./support/statement-counter.js";

const REPRESENTATIONS = 100;

function row(label: string, r: LoadResult, baseline?: LoadResult): string {
  const ratio = baseline ? `  ratio ${(r.rps / baseline.rps).toFixed(2)}` : "";
  const failures = loadFailures(r);
  return (
    `  ${label.padEnd(34)} ${fmt(r.rps).padStart(7)} req/s  p50 ${String(r.p50).padStart(3)} ms  p99 ${String(r.p99).padStart(3)} ms  ` +
    `CPU ${r.cpuMsPerRequest.toFixed(3)} ms/req  RSS peak ${fmt(r.peakRssMb)} MB, after ${fmt(r.rssAfterMb)} MB${ratio}${r.connectS < 0 || r.connectS > 3 ? `  (connections all served only after ${r.connectS < 0 ? "> 60" : r.connectS.toFixed(1)} s)` : ""}${failures ? `  FAILURES ${failures} (statuses ${JSON.stringify(r.statusCodes)}, wrong answers ${r.wrong}, errors ${r.errors}, timeouts ${r.timeouts})` : ""}`
  );
}

async function expectAnswer(server: ServerProcess, body: unknown, headers: Record<string, string>, expected: string): Promise<void> {
  const res = await postJson(server.url, body, headers);
  if (res.status !== 200 || !JSON.stringify(res.json).includes(expected)) {
    throw new Error(`${server.name} answered ${res.status} ${JSON.stringify(res.json).slice(0, 300)}`);
  }
}

async function main(): Promise<void> {
  console.log(
    `lookup bench: ${fmt(settings.users)} users, ${settings.connections} connections, ${settings.warmupS} s warm-up + ${settings.durationS} s measured, ` +
      `${settings.rounds} round(s), pool ${settings.poolSize}${QUICK ? " (QUICK)" : ""}`,
  );
  buildProduct();
  const env = await startEnvironment();
  const servers: ServerProcess[] = [];
  try {
    await lookups(env, servers);
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await env.close();
  }
  finish("lookup bench");
}

async function lookups(env: BenchEnvironment, servers: ServerProcess[]): Promise<void> {
  const jwtTokens = await readerTokens();
  const load = (kind: LoadSpec["kind"], extra: Partial<LoadSpec> = {}): LoadSpec => loadSpec(env, kind, extra);

  const baseline = await startBaseline({ databaseUrl: env.databaseUrl, poolSize: settings.poolSize, sdkAppId: env.sdkAppId });
  servers.push(baseline);
  const jwt = await startProduct("product built, AUTH_MODE=jwt", "built", { ...env.productEnv, AUTH_MODE: "jwt", AUTH_JWT_SECRET: JWT_SECRET });
  servers.push(jwt);
  const none = await startProduct("product built, AUTH_MODE=none", "built", { ...env.productEnv, AUTH_MODE: "none" });
  servers.push(none);
  // The HTTP_FAST_LANE lever, measured beside the default in the same rounds (not a target).
  const otherLane = String(!DEFAULT_HTTP_FAST_LANE);
  const jwtOther = await startProduct(`AUTH_MODE=jwt, HTTP_FAST_LANE=${otherLane}`, "built", { ...env.productEnv, AUTH_MODE: "jwt", AUTH_JWT_SECRET: JWT_SECRET, HTTP_FAST_LANE: otherLane });
  servers.push(jwtOther);
  const noneOther = await startProduct(`AUTH_MODE=none, HTTP_FAST_LANE=${otherLane}`, "built", { ...env.productEnv, AUTH_MODE: "none", HTTP_FAST_LANE: otherLane });
  servers.push(noneOther);
  // The LOOKUP_BATCHING lever: the product reading one statement per lookup, as the baseline does.
  const jwtUnbatched = await startProduct("AUTH_MODE=jwt, LOOKUP_BATCHING=false", "built", { ...env.productEnv, AUTH_MODE: "jwt", AUTH_JWT_SECRET: JWT_SECRET, LOOKUP_BATCHING: "false" });
  servers.push(jwtUnbatched);
  const builtRssAfterStart = none.rssMb();

  const lookupBody = { query: "query($o: String!) { classroomUser(originId: $o) { __typename ... on ClassroomUser { userId } } }", variables: { o: "bench-1" } };
  await expectAnswer(baseline, { originId: "bench-1" }, {}, "bench-user-1");
  await expectAnswer(jwt, lookupBody, { authorization: `Bearer ${jwtTokens[0]}` }, "bench-user-1");
  await expectAnswer(none, lookupBody, {}, "bench-user-1");
  await expectAnswer(jwtOther, lookupBody, { authorization: `Bearer ${jwtTokens[0]}` }, "bench-user-1");
  await expectAnswer(noneOther, lookupBody, {}, "bench-user-1");
  await expectAnswer(jwtUnbatched, lookupBody, { authorization: `Bearer ${jwtTokens[0]}` }, "bench-user-1");

  const results = { baseline: [] as LoadResult[], jwt: [] as LoadResult[], none: [] as LoadResult[], jwtOther: [] as LoadResult[], noneOther: [] as LoadResult[], jwtUnbatched: [] as LoadResult[] };
  const laneLabel = (lane: boolean) => `HTTP_FAST_LANE=${lane}`;
  for (let round = 1; round <= settings.rounds; round++) {
    console.log(`round ${round}/${settings.rounds}: classroomUser(originId:)`);
    const b = await runLoad(baseline, load("baseline"));
    results.baseline.push(b);
    console.log(row("bare node:http + postgres.js", b));
    const j = await runLoad(jwt, load("lookup", { tokens: jwtTokens }));
    results.jwt.push(j);
    console.log(row(`product, AUTH_MODE=jwt (HS256), ${laneLabel(DEFAULT_HTTP_FAST_LANE)}`, j, b));
    const n = await runLoad(none, load("lookup"));
    results.none.push(n);
    console.log(row(`product, AUTH_MODE=none, ${laneLabel(DEFAULT_HTTP_FAST_LANE)}`, n, b));
    const jo = await runLoad(jwtOther, load("lookup", { tokens: jwtTokens }));
    results.jwtOther.push(jo);
    console.log(row(`  lever: jwt, ${laneLabel(!DEFAULT_HTTP_FAST_LANE)}`, jo, b));
    const no = await runLoad(noneOther, load("lookup"));
    results.noneOther.push(no);
    console.log(row(`  lever: none, ${laneLabel(!DEFAULT_HTTP_FAST_LANE)}`, no, b));
    const ju = await runLoad(jwtUnbatched, load("lookup", { tokens: jwtTokens }));
    results.jwtUnbatched.push(ju);
    console.log(row("  lever: jwt, LOOKUP_BATCHING=false", ju, b));
  }
  const cpu = (of: LoadResult[]) => mean(of.map((r) => r.cpuMsPerRequest)).toFixed(3);
  const ratios = (of: LoadResult[]) => of.map((r, i) => r.rps / results.baseline[i]!.rps);
  const jwtRatio = mean(ratios(results.jwt));
  const noneRatio = mean(ratios(results.none));
  console.log(
    `mean: baseline ${fmt(mean(results.baseline.map((r) => r.rps)))} req/s; jwt ${fmt(mean(results.jwt.map((r) => r.rps)))} req/s (ratio ${jwtRatio.toFixed(2)}); ` +
      `none ${fmt(mean(results.none.map((r) => r.rps)))} req/s (ratio ${noneRatio.toFixed(2)})`,
  );
  console.log(
    `lever ${laneLabel(!DEFAULT_HTTP_FAST_LANE)}: jwt ratio ${mean(ratios(results.jwtOther)).toFixed(2)}, none ratio ${mean(ratios(results.noneOther)).toFixed(2)}; ` +
      `server CPU per request (ms, mean of rounds): jwt ${cpu(results.jwt)} → ${cpu(results.jwtOther)}, none ${cpu(results.none)} → ${cpu(results.noneOther)} ` +
      `(RSS after load: jwt ${fmt(Math.max(...results.jwtOther.map((r) => r.rssAfterMb)))} MB, none ${fmt(Math.max(...results.noneOther.map((r) => r.rssAfterMb)))} MB)`,
  );
  console.log(
    `lever LOOKUP_BATCHING=false (one statement per lookup): jwt ratio ${mean(ratios(results.jwtUnbatched)).toFixed(2)}, ` +
      `p99 ${mean(results.jwtUnbatched.map((r) => r.p99)).toFixed(1)} ms, server CPU per request ${cpu(results.jwt)} → ${cpu(results.jwtUnbatched)} ms`,
  );
  const failures = [...results.baseline, ...results.jwt, ...results.none, ...results.jwtOther, ...results.noneOther, ...results.jwtUnbatched].reduce((n, r) => n + loadFailures(r), 0);
  check("lookup, AUTH_MODE=jwt: mean ratio to baseline >= 0.45", jwtRatio, "", jwtRatio >= 0.45);
  const jwtP99 = mean(results.jwt.map((r) => r.p99));
  check("lookup, AUTH_MODE=jwt: p99 <= 25 ms (mean of rounds)", jwtP99, " ms", jwtP99 <= 25);
  const jwtRss = Math.max(...results.jwt.map((r) => r.rssAfterMb));
  check("lookup, AUTH_MODE=jwt: RSS after load <= 200 MB", jwtRss, " MB", jwtRss <= 200);
  check("lookup, AUTH_MODE=none: mean ratio to baseline >= 0.5", noneRatio, "", noneRatio >= 0.5);
  check("lookups without an error, a non-2xx or a wrong answer", failures, "", failures === 0);

  // _entities: throughput on the JWT server (a gateway forwards the caller's token), then statements per request.
  const entitiesRps: number[] = [];
  let entityFailures = 0;
  for (let round = 1; round <= settings.rounds; round++) {
    const e = await runLoad(jwt, load("entities", { tokens: jwtTokens, representations: REPRESENTATIONS }));
    entitiesRps.push(e.rps * REPRESENTATIONS);
    entityFailures += loadFailures(e);
    console.log(row(`_entities x${REPRESENTATIONS}, round ${round}`, e) + `  = ${fmt(e.rps * REPRESENTATIONS)} entities/s`);
  }
  const entitiesPerSecond = mean(entitiesRps);
  check(`_entities (${REPRESENTATIONS} representations): entities/s >= 20,000`, Math.round(entitiesPerSecond), "", entitiesPerSecond >= 20_000 && entityFailures === 0);
  const perRequest = await statementsPerEntitiesRequest(env, jwtTokens[0]!);
  check(`_entities (${REPRESENTATIONS} representations): SQL statements per request = 1`, perRequest, "", perRequest <= 1);

  // Memory of both starts under the same lookup load (AUTH_MODE=none).
  const builtPeak = Math.max(...results.none.map((r) => r.peakRssMb));
  const builtAfter = Math.max(...results.none.map((r) => r.rssAfterMb));
  for (const s of servers.splice(0)) await s.stop();
  const tsx = await startProduct("npm start (tsx), AUTH_MODE=none", "tsx", { ...env.productEnv, AUTH_MODE: "none" });
  servers.push(tsx);
  const tsxRssAfterStart = tsx.rssMb();
  const t = await runLoad(tsx, load("lookup"));
  console.log(row("npm start (tsx), AUTH_MODE=none", t));
  console.log("resident memory (MB, process tree), AUTH_MODE=none lookup load:");
  console.table([
    { start: "node dist/main.js (npm run build)", "after start": Math.round(builtRssAfterStart), "peak under load": Math.round(builtPeak), "after load": Math.round(builtAfter) },
    { start: "npm start (tsx)", "after start": Math.round(tsxRssAfterStart), "peak under load": Math.round(t.peakRssMb), "after load": Math.round(t.rssAfterMb) },
  ]);
}

/** Exact statement count for `_entities` requests, through a counting proxy in front of PostgreSQL. */
async function statementsPerEntitiesRequest(env: BenchEnvironment, token: string): Promise<number> {
  const counter = await startStatementCounter(env.databaseUrl);
  const server = await startProduct("product built, counted", "built", {
    ...env.productEnv,
    DATABASE_URL: counter.url,
    AUTH_MODE: "jwt",
    AUTH_JWT_SECRET: JWT_SECRET,
    RECONCILER_ENABLED: "false",
  });
  try {
    const requests = 20;
    const bodies = Array.from({ length: requests }, (_, k) => ({
      query: "query($r: [_Any!]!) { _entities(representations: $r) { ... on ClassroomUser { userId originId } } }",
      variables: {
        r: Array.from({ length: REPRESENTATIONS }, (_, i) => {
          const n = (k * REPRESENTATIONS + i * 7919) % settings.users;
          return i % 2 === 0 ? { __typename: "ClassroomUser", userId: `bench-user-${n}` } : { __typename: "ClassroomUser", sdkAppId: env.sdkAppId, originId: `bench-${n}` };
        }),
      },
    }));
    // The first request may prepare statements; count the rest.
    await expectAnswer(server, bodies[0], { authorization: `Bearer ${token}` }, "bench-user-");
    const before = counter.statements();
    for (const body of bodies.slice(1)) await expectAnswer(server, body, { authorization: `Bearer ${token}` }, "bench-user-");
    return (counter.statements() - before) / (requests - 1);
  } finally {
    await server.stop();
    await counter.close();
  }
}

await main();
