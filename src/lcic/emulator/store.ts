/**
 * The emulator's users: in memory, optionally persisted to a JSON file so that a restarted
 * emulator still knows them. Tokens are not stored: LCIC issues a new one per login anyway,
 * and a state file is no place for credentials.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import type { LcicUser } from "../client.js";

export interface StoredUser {
  sdkAppId: number;
  userId: string;
  originId: string;
  name: string;
  avatar: string;
}

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** `length` random base62 characters (rejection sampling, so no bias). */
export function randomBase62(length: number): string {
  let out = "";
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248) out += BASE62[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

/** Shaped like LCIC's, e.g. 2CvDgjRNjylAsBZB4iZc0F6koXe: 27 base62 characters. */
export const newUserId = (): string => randomBase62(27);
/** Opaque, like LCIC's login tokens. */
export const newToken = (): string => randomBase62(40);

export class UserStore {
  /** Insertion order is registration order, which paging follows. */
  private readonly byId = new Map<string, StoredUser>();
  private readonly byOrigin = new Map<string, string>();
  /**
   * Users that are members of some group (LCIC's groups are outside the eight user actions; the
   * emulator only needs to know who is in one, so DeleteUser can refuse). In memory only.
   */
  private readonly groupMembers = new Set<string>();
  private saving: Promise<void> = Promise.resolve();
  private savePending = false;
  private saveError: unknown;

  constructor(private readonly stateFile?: string) {}

  /** Load the state file if there is one; a missing file is an empty state, a corrupt one an error. */
  async load(): Promise<void> {
    if (!this.stateFile) return;
    let text: string;
    try {
      text = await readFile(this.stateFile, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
      throw error;
    }
    const data = JSON.parse(text) as { version?: number; users?: StoredUser[] };
    if (data.version !== 1 || !Array.isArray(data.users)) {
      throw new Error(`LCIC emulator state file ${this.stateFile} is not a version 1 state`);
    }
    for (const u of data.users) this.put(u, false);
  }

  private static originKey(sdkAppId: number, originId: string): string {
    return `${sdkAppId}\u0000${originId}`;
  }

  get(userId: string): StoredUser | undefined {
    return this.byId.get(userId);
  }

  findByOrigin(sdkAppId: number, originId: string): StoredUser | undefined {
    const id = this.byOrigin.get(UserStore.originKey(sdkAppId, originId));
    return id === undefined ? undefined : this.byId.get(id);
  }

  put(user: StoredUser, persist = true): void {
    this.byId.set(user.userId, user);
    this.byOrigin.set(UserStore.originKey(user.sdkAppId, user.originId), user.userId);
    if (persist) this.scheduleSave();
  }

  setInGroup(userId: string, inGroup: boolean): boolean {
    if (!this.byId.has(userId)) return false;
    if (inGroup) this.groupMembers.add(userId);
    else this.groupMembers.delete(userId);
    return true;
  }

  isInGroup(userId: string): boolean {
    return this.groupMembers.has(userId);
  }

  delete(userId: string): boolean {
    const user = this.byId.get(userId);
    if (!user) return false;
    this.byId.delete(userId);
    this.groupMembers.delete(userId);
    this.byOrigin.delete(UserStore.originKey(user.sdkAppId, user.originId));
    this.scheduleSave();
    return true;
  }

  list(sdkAppId?: number): StoredUser[] {
    const all = [...this.byId.values()];
    return sdkAppId === undefined ? all : all.filter((u) => u.sdkAppId === sdkAppId);
  }

  clear(): void {
    this.byId.clear();
    this.groupMembers.clear();
    this.byOrigin.clear();
    this.scheduleSave();
  }

  /**
   * Coalesce bursts (a BatchRegister of 1000 users is one write) and serialize writes so an
   * older snapshot can never overwrite a newer one.
   */
  private scheduleSave(): void {
    if (!this.stateFile || this.savePending) return;
    this.savePending = true;
    this.saving = this.saving
      .then(async () => {
        await new Promise((resolve) => setImmediate(resolve));
        this.savePending = false;
        await this.writeState();
      })
      // Kept for flush(): the chain must stay alive for later saves, and an unobserved
      // rejection must not crash the process that hosts the emulator.
      .catch((error: unknown) => {
        this.saveError = error;
      });
  }

  private async writeState(): Promise<void> {
    const file = this.stateFile;
    if (!file) return;
    await mkdir(path.dirname(file), { recursive: true });
    // Write then rename: a crash mid-write leaves the previous state intact, never half a file.
    const tmp = `${file}.${process.pid}.${randomBase62(8)}.tmp`;
    await writeFile(tmp, JSON.stringify({ version: 1, users: this.list() }, null, 1));
    await rename(tmp, file);
  }

  /** Resolves once every change so far is on disk. */
  async flush(): Promise<void> {
    await this.saving;
    const error = this.saveError;
    this.saveError = undefined;
    if (error !== undefined) throw error;
  }
}

export function toLcicUser(u: StoredUser): LcicUser {
  return { sdkAppId: u.sdkAppId, userId: u.userId, originId: u.originId, name: u.name, avatar: u.avatar };
}
