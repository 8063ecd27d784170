// Floors of a registration, for the registration bench: what any server that registers through the
// official SDK pays on this machine at the bench's spacing, with none of the product's work.
//   MODE=lcic          node:http, then RegisterUser through the SDK's LCIC client (keep-alive agent, as
//                      the product's), then the answer: the hop in, the SDK's work and the hop to LCIC.
//   MODE=exactly-once  the same with the least exactly-once needs around the call: one prepared INSERT
//                      recording the intent before RegisterUser, one prepared UPDATE recording its user
//                      after (no lock, no budget, no pacer, no token sealing, no GraphQL).
// Env: PORT, DATABASE_URL, SDK_APP_ID, LCIC_ENDPOINT, TENCENTCLOUD_SECRET_ID, TENCENTCLOUD_SECRET_KEY, MODE.
import http from "node:http";
import postgres from "postgres";
import lcic from "tencentcloud-sdk-nodejs/tencentcloud/services/lcic/v20220817/lcic_client.js";
import { serveJson } from "./bare-server.mjs";

const mode = process.env.MODE;
if (mode !== "lcic" && mode !== "exactly-once") throw new Error(`MODE must be lcic or exactly-once, got ${mode}`);
const sql = postgres(process.env.DATABASE_URL, { max: 10 });
const sdkAppId = Number(process.env.SDK_APP_ID);
const endpoint = new URL(process.env.LCIC_ENDPOINT);
const client = new lcic.Client({
  credential: { secretId: process.env.TENCENTCLOUD_SECRET_ID, secretKey: process.env.TENCENTCLOUD_SECRET_KEY },
  region: process.env.LCIC_REGION,
  profile: { httpProfile: { protocol: `${endpoint.protocol}//`, endpoint: endpoint.host, reqTimeout: 10, agent: new http.Agent({ keepAlive: true }) } },
});

serveJson(sql, async ({ originId, name }) => {
  if (mode === "exactly-once") await sql`insert into classroom_users (sdk_app_id, origin_id, name, attempts) values (${sdkAppId}, ${originId}, ${name}, 1)`;
  const answer = await client.request("RegisterUser", { SdkAppId: sdkAppId, Name: name, OriginId: originId });
  if (mode === "exactly-once") {
    await sql`update classroom_users set user_id = ${answer.UserId}, status = 'registered' where sdk_app_id = ${sdkAppId} and origin_id = ${originId}`;
  }
  return { data: { registerClassroomUser: { created: true, user: { userId: answer.UserId } } } };
});
