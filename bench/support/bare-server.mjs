// The HTTP side shared by the bench's bare servers (baseline-server.mjs, registration-floor-server.mjs):
// node:http, the JSON body read whole, `answer(body)`'s value written as JSON (500 with the error's text
// when it throws), /readyz, keep-alive as the product's, and SIGTERM closing the server and `sql`.
import http from "node:http";

export function serveJson(sql, answer) {
  const server = http.createServer((req, res) => {
    if (req.url === "/readyz") return res.end("ok");
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", async () => {
      try {
        const payload = JSON.stringify(await answer(JSON.parse(Buffer.concat(chunks).toString())));
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(payload) });
        res.end(payload);
      } catch (error) {
        res.writeHead(500).end(String(error));
      }
    });
  });
  server.keepAliveTimeout = 65_000;
  server.listen(Number(process.env.PORT), "127.0.0.1");
  process.on("SIGTERM", () => {
    server.close();
    server.closeAllConnections();
    void sql.end({ timeout: 1 }).then(() => process.exit(0));
  });
}
