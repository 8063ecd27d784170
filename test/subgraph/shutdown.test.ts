// Graceful shutdown: a request in flight when the server is told to stop is answered in full and
// its user stored; new connections are refused meanwhile; the pools close afterwards.
import { describe, expect, it } from "vitest";
import { REGISTER, startTestServer } from "../support/server.js";

describe("graceful shutdown", () => {
  it("finishes in-flight requests, refuses new ones, then closes", async () => {
    const server = await startTestServer();
    try {
      server.emulator.injectFault({ mode: "latency", ms: 600, action: "RegisterUser" });
      const inFlight = server.post(JSON.stringify({ query: REGISTER, variables: { input: { originId: "in-flight" } } }));
      await expect.poll(() => server.emulator.counters().RegisterUser.calls, { timeout: 3000, interval: 20 }).toBe(1);
      const closing = server.app.close(5_000);
      // The listener is closed at once: a new connection is refused while the old request finishes.
      await expect.poll(() => fetch(`${server.url}/healthz`).then(() => "answered", () => "refused"), { timeout: 2000, interval: 20 }).toBe("refused");
      const response = await inFlight;
      expect(response.status).toBe(200);
      const body = (await response.json()) as { data: { registerClassroomUser: { __typename: string; user: { userId: string } } } };
      expect(body.data.registerClassroomUser.__typename).toBe("RegisterClassroomUserSuccess");
      await closing;
      const [row] = await server.db.sql`select status, user_id from classroom_users where origin_id = 'in-flight'`;
      expect(row).toEqual({ status: "registered", user_id: body.data.registerClassroomUser.user.userId });
    } finally {
      await server.db.close();
      await server.lcic.close();
    }
  });
});
