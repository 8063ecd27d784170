/**
 * HTTP_FAST_LANE for the servers tests start. The vitest project "yoga-path" sets it to false in
 * the environment, so the HTTP-level suites run once through the lane (the default) and once through yoga.
 */
export function laneEnv(): Record<string, string> {
  const value = process.env.HTTP_FAST_LANE;
  return value ? { HTTP_FAST_LANE: value } : {};
}
