import { RequestCache } from "@pothos/plugin-scope-auth";
import { isAsyncIterable, type Plugin } from "graphql-yoga";

/**
 * Drops Pothos scope-auth's per-request cache when the operation's execution is done.
 *
 * scope-auth keeps one `RequestCache` per context in a WeakMap keyed by the context, and the cache
 * holds the context: a key reachable from its own value. V8's young-generation GC (the scavenger)
 * cannot free such an entry (an ephemeron cycle); only a full mark-compact can. So every request's
 * context, and everything reachable from it (the request, the response, the execution's objects),
 * survived its scavenges and was promoted to the old generation: under load ~1.9 MB each scavenge,
 * 5 ms scavenge pauses and a full GC about every second, where a bare handler promotes nothing.
 * Deleting the entry once execution ends breaks the cycle, and the request's objects die young.
 *
 * The cache only memoises scope checks within one execution, so nothing needs it afterwards; a
 * later read of it for the same context (none is made) would simply build a new one.
 */
export function releaseAuthScopeCache(): Plugin {
  return {
    onExecute({ args }) {
      const context = args.contextValue as object;
      return {
        onExecuteDone({ result }) {
          if (!isAsyncIterable(result)) return RequestCache.clearForContext(context);
          return { onEnd: () => RequestCache.clearForContext(context) };
        },
      };
    },
  };
}
