import { ValidationError } from "./errors.js";
import type { ClassroomUserRow, ListQuery } from "./repository.js";
import type { UsersContext } from "./context.js";
import { parseListInput } from "./validation.js";
import { resolveSdkAppId } from "./context.js";

export const DEFAULT_PAGE_SIZE = 50;

export interface ClassroomUserPage {
  edges: Array<{ cursor: string; node: ClassroomUserRow }>;
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  totalCount: number;
}

// Cursors are opaque to clients: base64url of "v1:<sdkAppId>:<row id>". The id is the keyset
// position; the application is in it so a cursor of one application's list is refused in another's.
const CURSOR_PREFIX = "v1";

export function encodeCursor(sdkAppId: number, id: number): string {
  return Buffer.from(`${CURSOR_PREFIX}:${sdkAppId}:${id}`, "utf8").toString("base64url");
}

function decodeCursor(cursor: string, sdkAppId: number): number {
  const [version, app, id, ...rest] = Buffer.from(cursor, "base64url").toString("utf8").split(":");
  const position = Number(id);
  if (version !== CURSOR_PREFIX || rest.length > 0 || Number(app) !== sdkAppId || !Number.isSafeInteger(position) || position < 0) {
    throw new ValidationError([{ path: ["after"], message: "is not a cursor of this list (use an endCursor or cursor it returned)" }]);
  }
  return position;
}

/**
 * `classroomUsers`: one application's registered users, oldest first, from PostgreSQL only.
 *
 * Keyset pagination on the row id (`classroom_users_listing_idx`): a page is "the next `first` rows
 * after this id", so users added or removed while a client pages through shift nothing, and every
 * user that existed for the whole walk is seen exactly once. `totalCount` counts the filter's
 * matches now, so it may change between pages.
 */
export async function listClassroomUsers(ctx: UsersContext, rawArgs: unknown): Promise<ClassroomUserPage> {
  const args = parseListInput(rawArgs);
  const sdkAppId = resolveSdkAppId(ctx, args.sdkAppId);
  const first = args.first ?? DEFAULT_PAGE_SIZE;
  const afterId = args.after != null ? decodeCursor(args.after, sdkAppId) : undefined;
  const query: ListQuery = { sdkAppId, ...args.filter };
  const { repository } = ctx;
  const [rows, totalCount] = await Promise.all([repository.listRegistered(query, afterId, first + 1), repository.countRegistered(query)]);
  const page = rows.slice(0, first);
  const edges = page.map((node) => ({ cursor: encodeCursor(sdkAppId, node.id), node }));
  return { edges, pageInfo: { hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null }, totalCount };
}
