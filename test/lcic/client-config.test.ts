// createLcicClient's reading of its configuration: endpoint URL to the SDK's protocol + host.
import http from "node:http";
import { describe, expect, it } from "vitest";
import { createLcicClient, splitLcicEndpoint } from "../../src/lcic/client.js";
import { startTestLcic } from "../support/lcic.js";

describe("splitLcicEndpoint", () => {
  it("splits scheme and host[:port]", () => {
    expect(splitLcicEndpoint("https://lcic.tencentcloudapi.com")).toEqual({ protocol: "https://", host: "lcic.tencentcloudapi.com" });
    expect(splitLcicEndpoint("http://127.0.0.1:9000/")).toEqual({ protocol: "http://", host: "127.0.0.1:9000" });
  });

  it("refuses what the SDK would silently mangle", () => {
    for (const bad of ["lcic.tencentcloudapi.com", "ftp://x", "https://x/api", "https://x/?a=1", "https://u:p@x"]) {
      expect(() => splitLcicEndpoint(bad)).toThrow(TypeError);
    }
  });
});

describe("createLcicClient", () => {
  it("rejects a non-positive timeout", () => {
    const base = { endpoint: "https://lcic.tencentcloudapi.com", secretId: "a", secretKey: "b" };
    expect(() => createLcicClient({ ...base, timeoutMs: 0 })).toThrow(RangeError);
    expect(() => createLcicClient({ ...base, timeoutMs: Number.NaN })).toThrow(RangeError);
  });

  it("uses a caller-supplied agent, with connections reused", async () => {
    const { clientConfig, close } = await startTestLcic();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<unknown>();
    const originalCreate = agent.createConnection.bind(agent);
    agent.createConnection = ((...args: Parameters<typeof originalCreate>) => {
      const socket = originalCreate(...args);
      sockets.add(socket);
      return socket;
    }) as typeof agent.createConnection;
    try {
      const client = createLcicClient(clientConfig, { agent });
      const r = await client.registerUser({ sdkAppId: 1400000001 });
      await client.loginUser(r.userId);
      await client.describeUser({ userId: r.userId });
      expect(sockets.size).toBe(1);
    } finally {
      agent.destroy();
      await close();
    }
  });
});
