/**
 * A CPU profile of the built product under the lookup (or `_entities`) load, summarised by package and
 * by function (self time). Not part of `npm run bench`: a tool for finding where a request's time goes.
 *
 *   npx tsx bench/profile.ts [lookup|entities] [AUTH_MODE]     # e.g. npx tsx bench/profile.ts lookup jwt
 * Env: PROFILE_ENV='{"HTTP_FAST_LANE":"false"}' adds product environment; BENCH_USERS, BENCH_DURATION_S as in the bench.
 */
import { mkdtemp, readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { JWT_SECRET, loadSpec, readerTokens, startEnvironment } from "./support/environment.js";
import { buildProduct, runLoad, startProduct } from "./support/processes.js";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

const kind = (process.argv[2] ?? "lookup") as "lookup" | "entities";
const authMode = process.argv[3] ?? "none";
buildProduct();
const env = await startEnvironment();
const dir = await mkdtemp(path.join(tmpdir(), "classroom-users-prof-"));
const tokens = authMode === "jwt" ? await readerTokens() : undefined;
const server = await startProduct(
  "profiled",
  "built",
  { ...env.productEnv, AUTH_MODE: authMode, AUTH_JWT_SECRET: JWT_SECRET, ...JSON.parse(process.env.PROFILE_ENV ?? "{}") },
  ["--cpu-prof", `--cpu-prof-dir=${dir}`],
);
try {
  const result = await runLoad(server, loadSpec(env, kind, { ...(tokens ? { tokens } : {}), representations: 100 }));
  console.log(`${kind} ${authMode}: ${Math.round(result.rps)} req/s p50 ${result.p50} p99 ${result.p99} CPU ${result.cpuMsPerRequest.toFixed(3)} ms/req RSS ${Math.round(result.rssAfterMb)} MB`);
} finally {
  await server.stop();
  await env.close();
}
const file = (await readdir(dir)).find((f) => f.endsWith(".cpuprofile"));
if (!file) throw new Error("no profile written");
const profile = JSON.parse(await readFile(path.join(dir, file), "utf8")) as { nodes: Node[]; samples: number[] };
const total = profile.nodes.reduce((n, node) => n + (node.hitCount ?? 0), 0);
const byPackage = new Map<string, number>();
const byFunction = new Map<string, number>();
for (const node of profile.nodes) {
  const hits = node.hitCount ?? 0;
  if (!hits) continue;
  const url = node.callFrame.url;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1] ?? (url.includes("/dist/") ? "product (dist)" : url.startsWith("node:") ? "node core" : url || `(${node.callFrame.functionName})`);
  byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + hits);
  const fn = `${node.callFrame.functionName || "(anonymous)"} ${url.replace(/.*node_modules\//, "").replace(/.*\/dist\//, "dist/")}:${node.callFrame.lineNumber + 1}`;
  byFunction.set(fn, (byFunction.get(fn) ?? 0) + hits);
}
const top = (m: Map<string, number>, n: number) =>
  [...m.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`)
    .join("\n");
console.log(`profile: ${path.join(dir, file)}\n--- by package (self) ---\n${top(byPackage, 30)}\n--- by function (self) ---\n${top(byFunction, 60)}`);
