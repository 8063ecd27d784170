import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { renderGraphiQL } from "@graphql-yoga/render-graphiql";
import { createYoga, type YogaServerInstance } from "graphql-yoga";
import type { DatabaseHandle } from "./db/client.js";
import type { Logger } from "./logger.js";
import { buildSchema, type GraphQLContext } from "./schema/index.js";
import type { UsersService } from "./users/service.js";

export interface ServerDeps {
  db: Pick<DatabaseHandle, "ping">;
  users: UsersService;
  logger: Logger;
  /** GraphiQL and introspection; on unless production. */
  graphiql?: boolean;
  /** Reported by /readyz for operators; LCIC being down does not make the service unready (reads still work). */
  lcicCircuit?: () => string;
}

export interface AppServer {
  yoga: YogaServerInstance<Record<string, unknown>, GraphQLContext>;
  http: Server;
  listen(port: number, host: string): Promise<{ port: number; url: string }>;
  /** Stops accepting, lets in-flight requests finish (up to `graceMs`), then closes the sockets. */
  close(graceMs?: number): Promise<void>;
}

export const EXAMPLE_OPERATIONS = /* GraphQL */ `# Register a classroom user (safe to run twice: the same originId returns the same user).
mutation Register {
  registerClassroomUser(input: { originId: "student-42", name: "Ada Lovelace", avatar: "https://example.com/ada.png" }) {
    __typename
    ... on RegisterClassroomUserSuccess {
      created
      token
      tokenExpiresAt
      user { userId sdkAppId originId name avatar createdAt }
    }
    ... on ValidationError { fieldErrors { path message } }
    ... on Error { code message }
  }
}

# Find the user again, by originId (or by userId).
query FindUser {
  classroomUser(originId: "student-42") {
    __typename
    ... on ClassroomUser { userId sdkAppId originId name avatar createdAt updatedAt }
    ... on Error { code message }
  }
}
`;

export function createServer(deps: ServerDeps): AppServer {
  const { logger } = deps;
  const graphiql = deps.graphiql ?? true;
  const yoga = createYoga<Record<string, unknown>, GraphQLContext>({
    schema: buildSchema(),
    context: () => ({ users: deps.users }),
    graphqlEndpoint: "/graphql",
    landingPage: false,
    // Served from our own dependency: yoga's default GraphiQL loads from a public CDN.
    renderGraphiQL,
    graphiql: graphiql ? { title: "classroom-users", defaultQuery: EXAMPLE_OPERATIONS } : false,
    // Unexpected errors reach clients as "Unexpected error." only; the detail goes to the log.
    maskedErrors: { isDev: false },
    logging: {
      debug: (...args) => logger.debug({ args: args.map(String) }, "yoga"),
      info: (...args) => logger.info({ args: args.map(String) }, "yoga"),
      warn: (...args) => logger.warn({ args: args.map(String) }, "yoga"),
      error: (...args) => logger.error({ err: args.find((a) => a instanceof Error), args: args.filter((a) => !(a instanceof Error)).map(String) }, "yoga error"),
    },
  });

  const inFlight = new Set<ServerResponse>();
  const http = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
    const path = req.url?.split("?")[0];
    if (path === "/healthz") return sendJson(res, 200, { status: "ok" });
    if (path === "/readyz") {
      void deps.db.ping(1000).then((ok) =>
        sendJson(res, ok ? 200 : 503, { status: ok ? "ready" : "unavailable", database: ok, lcicCircuit: deps.lcicCircuit?.() }),
      );
      return;
    }
    inFlight.add(res);
    res.on("close", () => inFlight.delete(res));
    void yoga.requestListener(req, res);
  });
  http.keepAliveTimeout = 65_000;

  return {
    yoga,
    http,
    listen(port, host) {
      return new Promise((resolve, reject) => {
        http.once("error", reject);
        http.listen(port, host, () => {
          http.off("error", reject);
          const address = http.address();
          const actual = typeof address === "object" && address ? address.port : port;
          const shownHost = host.includes(":") ? `[${host}]` : host;
          resolve({ port: actual, url: `http://${shownHost}:${actual}` });
        });
      });
    },
    async close(graceMs = 10_000) {
      const closed = new Promise<void>((resolve) => http.close(() => resolve()));
      http.closeIdleConnections();
      const deadline = Date.now() + graceMs;
      while (inFlight.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      http.closeAllConnections();
      await closed;
    },
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown) {
  const payload = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(payload), "cache-control": "no-store" });
  res.end(payload);
}
