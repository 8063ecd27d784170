/**
 * Tokens already verified, so a client sending the same bearer token on every request pays for one
 * signature check, not one per request (jose's verification was a third of a lookup's cost).
 *
 * - Keyed by a SHA-256 of the token: the cache never holds a usable credential.
 * - Bounded: past `maxEntries` the oldest entry goes.
 * - An entry never outlives its token's `exp` (the clock tolerance is not applied: after `exp` the token
 *   goes through full verification again, which may still accept it within the tolerance).
 * - `clear()` is called by the authenticator when the key set changes, so a removed key stops working
 *   as it would without the cache.
 * Only successes are cached; a refused token is checked again every time.
 */
import * as crypto from "node:crypto";
import type { JWTPayload } from "jose";

export const DEFAULT_VERIFIED_TOKEN_CACHE_SIZE = 10_000;

interface Entry {
  claims: JWTPayload;
  /** Epoch ms after which the entry is not used. */
  expiresAt: number;
}

export class VerifiedTokenCache {
  readonly #entries = new Map<string, Entry>();
  readonly #maxEntries: number;
  readonly #now: () => number;

  constructor(options: { maxEntries?: number; now?: () => number } = {}) {
    this.#maxEntries = Math.max(1, options.maxEntries ?? DEFAULT_VERIFIED_TOKEN_CACHE_SIZE);
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The claims of a token verified before and not yet expired, else undefined. */
  get(token: string): JWTPayload | undefined {
    const key = keyOf(token);
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (this.#now() >= entry.expiresAt) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.claims;
  }

  /** Remembers verified claims until their `exp`; tokens without a numeric `exp` are not cached. */
  set(token: string, claims: JWTPayload): void {
    if (typeof claims.exp !== "number") return;
    const expiresAt = claims.exp * 1000;
    if (this.#now() >= expiresAt) return;
    const key = keyOf(token);
    this.#entries.delete(key);
    while (this.#entries.size >= this.#maxEntries) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
    // Frozen: every request with this token shares the object.
    this.#entries.set(key, { claims: Object.freeze(claims), expiresAt });
  }

  clear(): void {
    this.#entries.clear();
  }
}

// One-shot `crypto.hash` (Node >= 20.12) skips the Hash object createHash builds per call (about 1.5%
// of a cached-JWT lookup); the same digest either way.
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: "base64") => string }).hash;
function keyOf(token: string): string {
  return oneShot ? oneShot("sha256", token, "base64") : crypto.createHash("sha256").update(token).digest("base64");
}
