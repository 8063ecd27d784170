/**
 * Process entry (`node dist/main.js`, `npm start`). Only the V8 heap settings are imported statically:
 * Node reads and compiles every module of a static import graph before it evaluates the first one, so
 * with the service imported here a restart in place (Node 24: src/v8-memory-start.ts) came only after
 * the whole product had been loaded once for nothing (~1.5 s and ~170 MB of heap on this machine).
 * The service itself (src/service.ts) is loaded after them.
 */
import "./v8-memory-start.js";

await import("./service.js");
