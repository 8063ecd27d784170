/**
 * Imported by src/main.ts before the service is loaded, for its side effect: src/main.ts imports
 * nothing else statically, so a restart in place costs Node's boot, not a load of the product.
 */
import { limitHeapGrowth, restartForMemory } from "./v8-memory.js";

restartForMemory();
limitHeapGrowth();
