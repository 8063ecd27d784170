/**
 * A/B of two product configurations under the same lookup load, interleaved in one run (a tool for
 * measuring a lever on a noisy machine; not part of `npm run bench`).
 *
 *   AB_A='{"HTTP_FAST_LANE":"true"}' AB_B='{"HTTP_FAST_LANE":"false"}' npx tsx bench/ab.ts [lookup|entities] [none|jwt] [rounds]
 * AB_A_ARGS / AB_B_ARGS: Node options for that variant, space-separated (e.g. "--heap-growing-percent=0").
 */
import { JWT_SECRET, loadSpec, readerTokens, settings, startEnvironment } from "./support/environment.js";
import { buildProduct, loadFailures, runLoad, startBaseline, startProduct, type LoadResult } from "./support/processes.js";

function nodeArgs(value: string | undefined): string[] {
  return value?.split(" ").filter(Boolean) ?? [];
}
const kind = (process.argv[2] ?? "lookup") as "lookup" | "entities";
const authMode = process.argv[3] ?? "none";
const rounds = Number(process.argv[4] ?? 3);
buildProduct();
const env = await startEnvironment();
const tokens = authMode === "jwt" ? await readerTokens() : undefined;
const base = { ...env.productEnv, AUTH_MODE: authMode, AUTH_JWT_SECRET: JWT_SECRET };
const variants = [
  ["A", await startProduct("A", "built", { ...base, ...JSON.parse(process.env.AB_A ?? "{}") }, nodeArgs(process.env.AB_A_ARGS))],
  ["B", await startProduct("B", "built", { ...base, ...JSON.parse(process.env.AB_B ?? "{}") }, nodeArgs(process.env.AB_B_ARGS))],
] as const;
const baseline = process.env.AB_BASELINE === "1" ? await startBaseline({ databaseUrl: env.databaseUrl, poolSize: settings.poolSize, sdkAppId: env.sdkAppId }) : undefined;
const spec = loadSpec(env, kind, { ...(tokens ? { tokens } : {}), representations: 100 });
const results: Record<string, LoadResult[]> = { A: [], B: [], baseline: [] };
const line = (name: string, r: LoadResult) =>
  `${name.padEnd(9)} ${Math.round(r.rps).toString().padStart(6)} req/s p50 ${r.p50} p99 ${r.p99} CPU ${r.cpuMsPerRequest.toFixed(3)} ms/req RSS peak ${Math.round(r.peakRssMb)} after ${Math.round(r.rssAfterMb)} MB fail ${loadFailures(r)}`;
try {
  for (let round = 0; round < rounds; round++) {
    if (baseline) {
      const r = await runLoad(baseline, { ...spec, kind: "baseline" });
      results.baseline!.push(r);
      console.log(line("baseline", r));
    }
    for (const [name, server] of round % 2 === 0 ? variants : [...variants].reverse()) {
      const r = await runLoad(server, spec);
      results[name]!.push(r);
      console.log(line(name, r));
    }
  }
} finally {
  for (const [, s] of variants) await s.stop();
  await baseline?.stop();
  await env.close();
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
for (const name of ["baseline", "A", "B"]) {
  const r = results[name]!;
  if (r.length) console.log(`mean ${name}: ${Math.round(mean(r.map((x) => x.rps)))} req/s, CPU ${mean(r.map((x) => x.cpuMsPerRequest)).toFixed(3)} ms/req, p99 ${Math.round(mean(r.map((x) => x.p99)))} ms`);
}
