// The load generator, in its own process (plain node, no tsx): autocannon against one URL with bodies
// built here from a JSON spec (argv[2]). Prints one JSON line with the measured window's figures.
//
// spec: { url, connections, warmupS, durationS, kind: "lookup" | "entities" | "baseline",
//         users, sdkAppId, tokens?: string[], representations?: number }
// Users are seeded as originId `bench-<i>` / userId `bench-user-<i>` (see bench/support/environment.ts).
import autocannon from "autocannon";

const spec = JSON.parse(process.argv[2]);
const random = (n) => Math.floor(Math.random() * n);

const LOOKUP = "query Lookup($originId: String!) { classroomUser(originId: $originId) { __typename ... on ClassroomUser { userId originId name } } }";
const ENTITIES =
  "query Entities($representations: [_Any!]!) { _entities(representations: $representations) { ... on ClassroomUser { userId originId name } } }";

function body() {
  if (spec.kind === "baseline") return JSON.stringify({ originId: `bench-${random(spec.users)}` });
  if (spec.kind === "lookup") return JSON.stringify({ query: LOOKUP, variables: { originId: `bench-${random(spec.users)}` } });
  const representations = [];
  for (let i = 0; i < spec.representations; i++) {
    const n = random(spec.users);
    representations.push(
      i % 2 === 0
        ? { __typename: "ClassroomUser", userId: `bench-user-${n}` }
        : { __typename: "ClassroomUser", sdkAppId: spec.sdkAppId, originId: `bench-${n}` },
    );
  }
  return JSON.stringify({ query: ENTITIES, variables: { representations } });
}

// A pool of ready bodies, so the generator spends its CPU on sending, not on JSON.
const bodies = Array.from({ length: 4096 }, body);
const tokens = spec.tokens ?? [];

function run(durationS) {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: spec.url,
        connections: spec.connections,
        duration: durationS,
        requests: [
          {
            method: "POST",
            setupRequest: (request) => {
              request.body = bodies[random(bodies.length)];
              const headers = { "content-type": "application/json" };
              if (tokens.length > 0) headers.authorization = `Bearer ${tokens[random(tokens.length)]}`;
              request.headers = headers;
              return request;
            },
          },
        ],
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
  });
}

if (spec.warmupS > 0) await run(spec.warmupS);
process.stdout.write(`${JSON.stringify({ phase: "measuring" })}\n`);
const result = await run(spec.durationS);
process.stdout.write(
  `${JSON.stringify({
    requests: result.requests.total,
    seconds: result.duration,
    rps: result.requests.total / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes: Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, stats]) => [code, stats.count])),
  })}\n`,
);
