/** GraphQL documents and helpers for the lifecycle operations (update, delete, token, list). */
import type { TestServer } from "../support/server.js";

const ERROR_FIELDS = /* GraphQL */ `
      ... on Error { code message }
      ... on ValidationError { fieldErrors { path message } }
      ... on InvalidSdkAppIdError { sdkAppId requestId }
      ... on ClassroomUserNotFoundError { lookedUpUserId: userId lookedUpOriginId: originId requestId }
      ... on LcicRateLimitedError { retryAfterMs requestId }
      ... on LcicUnavailableError { requestId }
      ... on LcicError { requestId }
`;

export const UPDATE = /* GraphQL */ `
  mutation Update($input: UpdateClassroomUserInput!) {
    updateClassroomUser(input: $input) {
      __typename
      ... on UpdateClassroomUserSuccess { requestId user { userId sdkAppId originId name avatar updatedAt } }
      ${ERROR_FIELDS}
    }
  }
`;

export const DELETE = /* GraphQL */ `
  mutation Delete($input: DeleteClassroomUserInput!) {
    deleteClassroomUser(input: $input) {
      __typename
      ... on DeleteClassroomUserSuccess { userId sdkAppId originId requestId }
      ... on ClassroomUserInGroupError { inGroupUserId: userId }
      ${ERROR_FIELDS}
    }
  }
`;

export const TOKEN = /* GraphQL */ `
  mutation Token($input: IssueClassroomUserTokenInput!) {
    issueClassroomUserToken(input: $input) {
      __typename
      ... on ClassroomUserToken { token tokenExpiresAt fromCache requestId user { userId originId name } }
      ${ERROR_FIELDS}
    }
  }
`;

export const LIST = /* GraphQL */ `
  query List($sdkAppId: Int, $first: Int, $after: String, $filter: ClassroomUserFilter) {
    classroomUsers(sdkAppId: $sdkAppId, first: $first, after: $after, filter: $filter) {
      __typename
      ... on ClassroomUserConnection {
        totalCount
        pageInfo { hasNextPage endCursor }
        edges { cursor node { userId originId name } }
      }
      ... on Error { code message }
      ... on ValidationError { fieldErrors { path message } }
      ... on InvalidSdkAppIdError { sdkAppId }
    }
  }
`;

async function field(server: TestServer, query: string, name: string, variables: Record<string, unknown>) {
  const res = await server.gql(query, variables);
  if (res.errors) throw new Error(`GraphQL errors: ${JSON.stringify(res.errors)}`);
  return res.data![name] as Record<string, any>;
}

export const update = (server: TestServer, input: Record<string, unknown>) => field(server, UPDATE, "updateClassroomUser", { input });
export const remove = (server: TestServer, input: Record<string, unknown>) => field(server, DELETE, "deleteClassroomUser", { input });
export const issueToken = (server: TestServer, input: Record<string, unknown>) => field(server, TOKEN, "issueClassroomUserToken", { input });
export const list = (server: TestServer, args: Record<string, unknown> = {}) => field(server, LIST, "classroomUsers", args);

/** LCIC calls per action since the last reset, only those made. */
export function lcicCalls(server: TestServer): Record<string, number> {
  return Object.fromEntries(
    Object.entries(server.emulator.counters())
      .filter(([, c]) => c.calls > 0)
      .map(([action, c]) => [action, c.calls]),
  );
}

export async function tombstones(server: TestServer): Promise<Array<Record<string, any>>> {
  return server.db.sql.unsafe(`select * from classroom_user_tombstones order by deleted_at`) as unknown as Promise<Array<Record<string, any>>>;
}
