/**
 * A finished request's objects die young: nothing long-lived keeps them through V8's young-generation
 * GCs (scavenges). A long-lived Set or Map that short-lived objects pass through (it was the server's
 * set of responses in flight and the database watchdog's set of executions) has its table in the old
 * generation; V8 then allocates every new table there too, and each table a rehash leaves behind keeps
 * the entries it held alive until the next full GC. So every request's whole object graph (request,
 * response, context, execution) was promoted: ~4 KB a lookup, scavenges 4-5 ms instead of ~1 ms.
 *
 * Measured here directly: lookups run 20 at a time, with a scavenge forced every 50 answers; the old
 * generation's growth across each forced scavenge is what it promoted. A full GC first puts the
 * server's long-lived state (and such a table) into the old generation, as hours of serving would.
 */
import http from "node:http";
import v8 from "node:v8";
import vm from "node:vm";
import { afterAll, expect, it } from "vitest";
import { FIND, register, startTestServer } from "../support/server.js";

v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as (options?: { type: "minor" | "major" }) => void;

const server = await startTestServer();
afterAll(() => server.close());

const oldSpaceUsed = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === "old_space")!.space_used_size;

it("a lookup's objects are not promoted to the old generation (less than 1 KB a request)", async () => {
  await register(server, { originId: "young" });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 20 });
  const body = JSON.stringify({ query: FIND, variables: { originId: "young" } });
  const target = new URL(server.graphqlUrl);
  const lookup = () =>
    new Promise<void>((resolve, reject) => {
      const req = http.request(
        { agent, host: target.hostname, port: target.port, path: target.pathname, method: "POST", headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => (text += chunk));
          res.on("end", () => (text.includes('"ClassroomUser"') ? resolve() : reject(new Error(`unexpected answer ${res.statusCode}: ${text}`))));
        },
      );
      req.on("error", reject);
      req.end(body);
    });

  let promoted = 0;
  let answered = 0;
  const run = async (total: number, measure: boolean) => {
    let sent = 0;
    const client = async () => {
      while (sent < total) {
        sent++;
        await lookup();
        if (++answered % 50 === 0) {
          const before = oldSpaceUsed();
          gc({ type: "minor" });
          if (measure) promoted += Math.max(0, oldSpaceUsed() - before);
        }
      }
    };
    await Promise.all(Array.from({ length: 20 }, client));
  };
  try {
    await run(400, false); // warm: code, prepared statements, caches
    gc({ type: "major" });
    gc({ type: "major" });
    const requests = 2000;
    await run(requests, true);
    const perRequest = promoted / requests;
    // With a long-lived Set of responses this was 2-4 KB a request; without, well under 0.5 KB.
    expect(perRequest, `promoted ${promoted} bytes over ${requests} lookups`).toBeLessThan(1024);
  } finally {
    agent.destroy();
  }
}, 60_000);
