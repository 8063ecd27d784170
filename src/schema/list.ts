import { InvalidSdkAppIdError, ValidationError } from "../users/errors.js";
import { DEFAULT_PAGE_SIZE, type ClassroomUserPage } from "../users/listing.js";
import type { ClassroomUserRow } from "../users/repository.js";
import { LIST_MAX_FIRST } from "../users/validation.js";
import { builder } from "./builder.js";
import { ClassroomUser } from "./classroom-user.js";

// Federation: PageInfo is the Relay convention every subgraph with a connection repeats, so it is
// `@shareable`; the connection and edge types are this subgraph's own.
const PageInfo = builder.objectRef<ClassroomUserPage["pageInfo"]>("PageInfo").implement({
  description: "Where a page ends (Relay cursor connections). Shareable: other subgraphs may define the same type.",
  shareable: true,
  fields: (t) => ({
    hasNextPage: t.exposeBoolean("hasNextPage", { description: "Whether more items follow; pass `endCursor` as `after` to get them." }),
    endCursor: t.exposeString("endCursor", { nullable: true, description: "Cursor of the last item on this page; null when the page is empty." }),
  }),
});

const ClassroomUserEdge = builder.objectRef<{ cursor: string; node: ClassroomUserRow }>("ClassroomUserEdge").implement({
  description: "One user in a page.",
  fields: (t) => ({
    cursor: t.exposeString("cursor", { description: "Opaque position of this user: pass it as `after` to continue after it." }),
    node: t.field({ type: ClassroomUser, description: "The user.", resolve: (e) => e.node }),
  }),
});

const ClassroomUserConnection = builder.objectRef<ClassroomUserPage>("ClassroomUserConnection").implement({
  description: "A page of registered users, oldest first (Relay cursor connection).",
  fields: (t) => ({
    edges: t.field({ type: [ClassroomUserEdge], description: "The users of this page, in order.", resolve: (c) => c.edges }),
    pageInfo: t.field({ type: PageInfo, description: "Whether more follow, and the cursor to continue from.", resolve: (c) => c.pageInfo }),
    totalCount: t.exposeInt("totalCount", { description: "How many users match the filter now (all pages); may change while paging." }),
  }),
});

const ClassroomUserFilter = builder.inputType("ClassroomUserFilter", {
  description: "Narrows the list; all given conditions must hold.",
  fields: (t) => ({
    originIdPrefix: t.string({ description: "Only originIds starting with this (exactly, case-sensitive)." }),
    nameContains: t.string({ description: "Only names containing this, ignoring case." }),
    updatedSince: t.field({ type: "DateTime", description: "Only users changed here (profile or token) at or after this instant." }),
  }),
});

builder.queryField("classroomUsers", (t) =>
  t.field({
    type: ClassroomUserConnection,
    description:
      "The registered users of an application, oldest first, from this service's store (no LCIC call). Page with `first` and `after`; users added or removed meanwhile never make a page repeat or skip anyone else. Needs the read scope.",
    args: {
      sdkAppId: t.arg.int({ description: "LCIC application; defaults to LCIC_SDK_APP_ID." }),
      first: t.arg.int({ defaultValue: DEFAULT_PAGE_SIZE, description: `Page size, 1 to ${LIST_MAX_FIRST}.` }),
      after: t.arg.string({ description: "Continue after this cursor (`pageInfo.endCursor` or an edge's `cursor`)." }),
      filter: t.arg({ type: ClassroomUserFilter, description: "Only users matching this." }),
    },
    errors: { types: [ValidationError, InvalidSdkAppIdError], union: { name: "ClassroomUsersResult", description: "A page of users, or why not." } },
    authenticated: true,
    authScopes: { readAny: true },
    resolve: (_root, args, ctx) => ctx.users.list(args),
  }),
);
