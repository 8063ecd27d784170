import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type { LcicToken } from "../lcic/client.js";
import type { Logger } from "../logger.js";

/** LCIC tokens are valid for 7 days from issue. */
export const TOKEN_LIFETIME_MS = 7 * 24 * 60 * 60 * 1000;
/** A token handed to a caller must stay valid at least this long; older stored tokens are refreshed. */
export const TOKEN_MIN_REMAINING_MS = 60 * 60 * 1000;

export function tokenExpiry(issuedAt: Date): Date {
  return new Date(issuedAt.getTime() + TOKEN_LIFETIME_MS);
}

export function isTokenFresh(expiresAt: Date | null | undefined, now: Date): boolean {
  return !!expiresAt && expiresAt.getTime() - now.getTime() >= TOKEN_MIN_REMAINING_MS;
}

const AUTH_TAG_BYTES = 16;

/**
 * AES-256-GCM for LCIC tokens at rest. Encrypts with the first key and decrypts with whichever key
 * the ciphertext names, so keys can rotate: put the new key first, keep the old one until every row
 * has been re-encrypted (tokens are re-issued at least weekly, so a week is enough).
 *
 * Format: `v1.<key id>.<iv>.<ciphertext>.<tag>` (base64url). The key id is a short hash of the key,
 * not the key. The row's user id is bound as additional data so a ciphertext cannot be moved to
 * another row.
 */
export class TokenCipher {
  private readonly keys: Array<{ id: string; key: Buffer }>;

  constructor(keys: Buffer[]) {
    if (keys.length === 0) throw new Error("TokenCipher needs at least one key");
    this.keys = keys.map((key) => {
      if (key.length !== 32) throw new Error("token encryption keys must be 32 bytes");
      return { id: createHash("sha256").update(key).digest("base64url").slice(0, 8), key };
    });
  }

  encrypt(token: string, boundTo: string): string {
    const { id, key } = this.keys[0]!;
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", key, iv);
    cipher.setAAD(Buffer.from(boundTo, "utf8"));
    const ciphertext = Buffer.concat([cipher.update(token, "utf8"), cipher.final()]);
    return ["v1", id, iv.toString("base64url"), ciphertext.toString("base64url"), cipher.getAuthTag().toString("base64url")].join(".");
  }

  /** Throws when no configured key can decrypt (wrong key, tampered data, or a different row). */
  decrypt(sealed: string, boundTo: string): string {
    const [version, id, iv, ciphertext, tag] = sealed.split(".");
    if (version !== "v1" || !id || !iv || !ciphertext || !tag) throw new Error("unrecognised token ciphertext");
    const entry = this.keys.find((k) => k.id === id);
    if (!entry) throw new Error("token was encrypted with a key that is not configured in TOKEN_ENCRYPTION_KEY");
    // authTagLength pins the tag to GCM's full 16 bytes: without it, setAuthTag accepts a truncated tag,
    // and a 4-byte tag is forgeable by trial.
    const decipher = createDecipheriv("aes-256-gcm", entry.key, Buffer.from(iv, "base64url"), { authTagLength: AUTH_TAG_BYTES });
    decipher.setAAD(Buffer.from(boundTo, "utf8"));
    decipher.setAuthTag(Buffer.from(tag, "base64url"));
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, "base64url")), decipher.final()]).toString("utf8");
  }
}

/** The columns that store a token LCIC just issued: sealed, with its expiry and LCIC's RequestId. */
export interface SealedToken {
  tokenCiphertext: string;
  tokenExpiresAt: Date;
  lcicRequestId: string | null;
}

/** Seals a token LCIC issued for storage in its user's row (bound to that userId). */
export function sealToken(cipher: TokenCipher, login: LcicToken, issuedAt: Date): SealedToken {
  return {
    tokenCiphertext: cipher.encrypt(login.token, login.userId),
    tokenExpiresAt: tokenExpiry(issuedAt),
    lcicRequestId: login.requestId || null,
  };
}

/** The stored token of a row, or undefined when absent or unreadable (e.g. its key was rotated out). */
export function readStoredToken(
  cipher: TokenCipher,
  row: { userId: string | null; tokenCiphertext: string | null },
  logger: Logger,
): string | undefined {
  if (!row.tokenCiphertext || !row.userId) return undefined;
  try {
    return cipher.decrypt(row.tokenCiphertext, row.userId);
  } catch (error) {
    logger.warn({ userId: row.userId, reason: (error as Error).message }, "stored LCIC token unreadable; a new one will be issued");
    return undefined;
  }
}

/**
 * For the zero-configuration start: reads the key kept under the data directory, creating it
 * (mode 0600) on first run, so tokens stored in the embedded database stay readable across restarts.
 */
export async function loadOrCreateLocalKey(dataDir: string): Promise<Buffer> {
  const file = path.join(dataDir, "token-encryption.key");
  if (existsSync(file)) {
    const key = Buffer.from((await readFile(file, "utf8")).trim(), "base64");
    if (key.length !== 32) throw new Error(`${file} does not hold a 32-byte base64 key; delete it to generate a new one`);
    return key;
  }
  await mkdir(dataDir, { recursive: true });
  const key = randomBytes(32);
  await writeFile(file, key.toString("base64") + "\n", { mode: 0o600, flag: "wx" });
  return key;
}
