/**
 * HTTP_FAST_LANE for the servers tests start. The vitest project "yoga-path" sets it to false in
 * the environment, so the HTTP-level suites run once through the lane (the default) and once through yoga.
 */
export function laneEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  // GRAPHQL_JIT=false npm test: the same suites with the interpreting executor.
  for (const name of ["HTTP_FAST_LANE", "GRAPHQL_JIT"]) if (process.env[name]) env[name] = process.env[name]!;
  return env;
}
