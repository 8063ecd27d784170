// The bare baseline: node:http and the same prepared postgres.js query on the same table (the same
// patched driver from node_modules), answering what `classroomUser(originId:)` answers. No GraphQL, no
// auth, no framework: what the hardware and the driver can do. Env: PORT, DATABASE_URL, POOL_SIZE, SDK_APP_ID.
import postgres from "postgres";
import { serveJson } from "./bare-server.mjs";

const sql = postgres(process.env.DATABASE_URL, { max: Number(process.env.POOL_SIZE ?? 10) });
const sdkAppId = Number(process.env.SDK_APP_ID);

serveJson(sql, async ({ originId }) => {
  // postgres.js prepares this statement once per connection, as the product's Drizzle .prepare() does.
  const [row] = await sql`select * from classroom_users where sdk_app_id = ${sdkAppId} and origin_id = ${originId} limit 1`;
  return { data: { classroomUser: row ? { __typename: "ClassroomUser", userId: row.user_id, originId: row.origin_id, name: row.name } : null } };
});
