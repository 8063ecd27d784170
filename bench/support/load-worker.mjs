// The load generator, in its own process (plain node, no tsx): autocannon against one URL with bodies
// built here from a JSON spec (argv[2]). Prints one JSON line with the measured window's figures,
// among them `wrong`: 2xx answers that were not what was asked for (see rightAnswer).
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

/**
 * Whether a 2xx answer is the one asked for: every lookup a stored user (the baseline's and the
 * product's answers both carry `"__typename":"ClassroomUser"`), every `_entities` request all its
 * representations resolved. An error-union member or a null answered fast must not count as served.
 */
function rightAnswer(text) {
  if (spec.kind !== "entities") return text.includes('"__typename":"ClassroomUser"');
  let resolved = 0;
  for (let at = text.indexOf('"userId":'); at !== -1; at = text.indexOf('"userId":', at + 9)) resolved++;
  return resolved === spec.representations;
}

// A pool of ready bodies, so the generator spends its CPU on sending, not on JSON.
const bodies = Array.from({ length: 4096 }, body);
const tokens = spec.tokens ?? [];

/** Longest wait for every connection's first answer before the window opens anyway (then reported). */
const MAX_CONNECT_S = 60;

/**
 * One autocannon run on one set of connections: warm-up, then the measured window, which opens once
 * the warm-up has elapsed AND every connection has had an answer (so all are established and
 * served), and lasts durationS; only answers completed inside it count.
 *
 * Why: a Node server at capacity accepts one new connection per event-loop turn (seen here with a
 * bare node:http server too: the listen queue held 63 connections and drained ~10 a second while
 * the loop's turns were ~100 ms long). Measuring from the moment 100 new connections were opened
 * (the earlier warm-up run and measured run each opened their own) counted seconds of waiting
 * for accept() as the first request's latency: `_entities` showed a p99 of ~6 s and timeouts while
 * the server answered every request it had accepted within 1 s. A gateway keeps its connections;
 * the steady state is what is measured, and the time to get there is reported (connectS).
 */
function run(warmupS, durationS) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const latencies = [];
    const statusCodes = {};
    const answered = new Set();
    let measuredFrom = 0;
    let measuredUntil = 0;
    let connectS = 0;
    let non2xx = 0;
    let errors = 0;
    let timeouts = 0;
    let wrong = 0;
    const tracker = autocannon(
      {
        url: spec.url,
        connections: spec.connections,
        // Stopped from here when the window closes.
        duration: warmupS + MAX_CONNECT_S + durationS + 5,
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
            onResponse: (statusCode, text) => {
              if (measuring() && statusCode >= 200 && statusCode < 300 && !rightAnswer(text)) wrong++;
            },
          },
        ],
      },
      (error) => {
        if (error) return reject(error);
        const seconds = (measuredUntil - measuredFrom) / 1000;
        latencies.sort((a, b) => a - b);
        const at = (q) => (latencies.length === 0 ? 0 : Math.round(latencies[Math.min(latencies.length - 1, Math.ceil(q * latencies.length) - 1)]));
        const requests = latencies.length + non2xx;
        resolve({ requests, seconds, rps: requests / seconds, p50: at(0.5), p99: at(0.99), non2xx, wrong, errors, timeouts, statusCodes, connectS });
      },
    );
    const measuring = () => measuredFrom > 0 && measuredUntil === 0;
    const open = () => {
      measuredFrom = Date.now();
      connectS = answered.size >= spec.connections ? connectS : -1;
      process.stdout.write(`${JSON.stringify({ phase: "measuring" })}\n`);
      setTimeout(() => {
        measuredUntil = Date.now();
        tracker.stop();
      }, durationS * 1000);
    };
    const maybeOpen = () => {
      if (measuredFrom > 0) return;
      const now = Date.now();
      if (now - started < warmupS * 1000) return;
      if (answered.size >= spec.connections || now - started >= (warmupS + MAX_CONNECT_S) * 1000) open();
    };
    const poll = setInterval(() => {
      maybeOpen();
      if (measuredFrom > 0) clearInterval(poll);
    }, 50);
    tracker.on("response", (client, statusCode, _bytes, responseTime) => {
      if (!answered.has(client)) {
        answered.add(client);
        if (answered.size === spec.connections) connectS = (Date.now() - started) / 1000;
      }
      if (!measuring()) return;
      statusCodes[statusCode] = (statusCodes[statusCode] ?? 0) + 1;
      // As autocannon's own figures: latencies of 2xx answers.
      if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
      else non2xx++;
    });
    tracker.on("reqError", (error) => {
      if (!measuring()) return;
      errors++;
      if (error?.message === "request timed out") timeouts++;
    });
  });
}

const result = await run(spec.warmupS, spec.durationS);
process.stdout.write(`${JSON.stringify(result)}\n`);
