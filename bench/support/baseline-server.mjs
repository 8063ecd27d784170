// The bare baseline: node:http and the same prepared postgres.js query on the same table (the same
// patched driver from node_modules), answering what `classroomUser(originId:)` answers. No GraphQL, no
// auth, no framework: what the hardware and the driver can do. Env: PORT, DATABASE_URL, POOL_SIZE, SDK_APP_ID.
import http from "node:http";
import postgres from "postgres";

const sql = postgres(process.env.DATABASE_URL, { max: Number(process.env.POOL_SIZE ?? 10) });
const sdkAppId = Number(process.env.SDK_APP_ID);

const server = http.createServer((req, res) => {
  if (req.url === "/readyz") return res.end("ok");
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", async () => {
    try {
      const { originId } = JSON.parse(Buffer.concat(chunks).toString());
      // postgres.js prepares this statement once per connection, as the product's Drizzle .prepare() does.
      const [row] = await sql`select * from classroom_users where sdk_app_id = ${sdkAppId} and origin_id = ${originId} limit 1`;
      const payload = JSON.stringify({
        data: { classroomUser: row ? { __typename: "ClassroomUser", userId: row.user_id, originId: row.origin_id, name: row.name } : null },
      });
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
