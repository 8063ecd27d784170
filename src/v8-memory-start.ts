/**
 * Imported first by src/main.ts, for its side effect: ES modules are evaluated in import order, so this
 * runs before the rest of the product is loaded (a restart in place then costs Node's boot, not ours).
 */
import { limitHeapGrowth, restartForMemory } from "./v8-memory.js";

restartForMemory();
limitHeapGrowth();
