/**
 * HTTP_FAST_LANE for the servers tests start. The vitest project "fast-lane" sets it in the
 * environment, so the HTTP-level suites run once through yoga and once through the lane.
 */
export function laneEnv(): Record<string, string> {
  const value = process.env.HTTP_FAST_LANE;
  return value ? { HTTP_FAST_LANE: value } : {};
}
