import DataLoader from "dataloader";
import type { ClassroomUserReference } from "../users/lookup.js";
import type { ClassroomUserRow } from "../users/repository.js";
import { assertMayResolve } from "./authorization.js";
import { builder, type GraphQLContext } from "./builder.js";

export const ClassroomUser = builder.objectRef<ClassroomUserRow>("ClassroomUser").implement({
  // Users' data is for authenticated callers only, also when reached through another subgraph's field.
  authenticated: true,
  description:
    "A student or teacher registered as an LCIC user for one LCIC application. Unique by `userId`, and by (`sdkAppId`, `originId`). A federation entity: other subgraphs refer to it by either key (`userId`, or `sdkAppId` + `originId` when they only know their own id for the user), and this subgraph resolves the rest. Its fields are owned here, so none is `@shareable`.",
  fields: (t) => ({
    userId: t.id({ description: "LCIC's user id (e.g. `2CvDgjRNjylAsBZB4iZc0F6koXe`): pass it to the classroom SDK.", resolve: (u) => u.userId! }),
    sdkAppId: t.exposeInt("sdkAppId", { description: "The LCIC application (SdkAppId) the user belongs to." }),
    originId: t.exposeString("originId", {
      description: "The user's id in your own system, unique within the application. Generated (`cu-…`) when registered without one.",
    }),
    name: t.exposeString("name", { nullable: true, description: "Display name (LCIC nickname) shown in the classroom." }),
    avatar: t.exposeString("avatar", { nullable: true, description: "URL of the user's avatar image." }),
    createdAt: t.expose("createdAt", { type: "DateTime", description: "When this service first stored the user." }),
    updatedAt: t.expose("updatedAt", { type: "DateTime", description: "When this service last changed the stored user (profile or token)." }),
  }),
});

/**
 * One DataLoader per request: the gateway's `_entities` call for N students becomes one
 * `findByReferences`, i.e. one SQL query. Kept on the context itself (under a symbol, so server.ts need
 * not know about it), not in a WeakMap keyed by the context: the loader's batch function holds the
 * context, and a WeakMap value that reaches its own key is a cycle V8's young-generation GC cannot
 * free, so every `_entities` request's objects were promoted (README, Performance).
 */
const REFERENCE_LOADER = Symbol("classroom-users.reference-loader");
type ReferenceLoader = DataLoader<ClassroomUserReference, ClassroomUserRow | null, string>;

function referenceLoader(ctx: GraphQLContext): ReferenceLoader {
  const holder = ctx as GraphQLContext & { [REFERENCE_LOADER]?: ReferenceLoader };
  let loader = holder[REFERENCE_LOADER];
  if (!loader) {
    loader = new DataLoader((refs) => ctx.users.findByReferences(refs, { clientKey: ctx.clientKey }), {
      cacheKeyFn: (ref) => ("userId" in ref ? `u:${ref.userId}` : `o:${ref.sdkAppId}:${ref.originId}`),
    });
    holder[REFERENCE_LOADER] = loader;
  }
  return loader;
}

builder.asEntity(ClassroomUser, {
  key: [builder.selection<{ userId: string }>("userId"), builder.selection<{ sdkAppId: number; originId: string }>("sdkAppId originId")],
  resolveReference: (ref, ctx) => {
    // With the read scope (a gateway's usual caller) nothing is checked per reference: no promise
    // and no microtask per entity before the loader.
    if (ctx.principal.scopes.has(ctx.auth.scopes.read)) return referenceLoader(ctx).load(ref);
    return assertMayResolve(ref, ctx).then(() => referenceLoader(ctx).load(ref));
  },
});
