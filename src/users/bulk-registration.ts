/**
 * `registerClassroomUsers`: up to 1,000 users in one LCIC BatchRegister call, exactly once per
 * (sdkAppId, originId) like single registration.
 *
 * How exactly-once holds:
 * - Intent first: a `pending` row per new key (with the batch's id) is committed before LCIC is
 *   called, and every attempt is counted on the rows before it is sent.
 * - One request per key at a time, deployment-wide: the batch holds the same per-key advisory locks
 *   that single registration and the reconciler take (all of them, taken in lock-id order on one
 *   connection). A single registration of a key inside a running batch waits, then finds the key
 *   registered and returns the same user; of two overlapping batches the second finds the first's
 *   users registered and does not send them again.
 * - A lost or late reply: BatchRegister overwrites users by OriginId (LCIC keeps the user), so
 *   sending the same batch again is safe and tells us the userIds. If that fails too, the rows stay
 *   pending with their attempts counted; the next request for those keys (a re-run of the import,
 *   or a single registration) or the reconciler completes them.
 * - A refusal (LCIC answered an error, or our pacer refused to queue): nothing was created, so the
 *   rows this request wrote are deleted again.
 */
import { randomUUID } from "node:crypto";
import { z } from "zod";
import type { LcicClient, LcicPriority } from "../lcic/client.js";
import { LcicError } from "../lcic/errors.js";
import { LCIC_QUEUE_FULL } from "../lcic/pacer.js";
import type { Logger } from "../logger.js";
import type { BulkItem, BulkRegistrationRepository } from "./bulk-repository.js";
import { resolveSdkAppId } from "./context.js";
import { LcicUnavailableError, ValidationError, type FieldError } from "./errors.js";
import { toDomainError } from "./lcic-errors.js";
import { LockTimeoutError, type RegistrationLock } from "./registration-lock.js";
import type { ClassroomUserRow } from "./repository.js";
import { compileFieldCheck, registrationFields } from "./validation.js";

/** LCIC's cap on one BatchRegister (LCIC-NOTES §1). */
export const BULK_REGISTER_MAX = 1000;

/** BatchRegister calls one request makes at most when replies are lost. */
const BATCH_ROUNDS = 2;

export interface BulkRegisterOutcome {
  originId: string;
  user: ClassroomUserRow;
  /** True when this service registered the user now (new to this service). */
  created: boolean;
}

export interface BulkRegisterResult {
  users: BulkRegisterOutcome[];
  createdCount: number;
  existingCount: number;
  /** LCIC's RequestId of the BatchRegister call, when one was made. */
  requestId: string | undefined;
}

export interface BulkRegistrationDeps {
  repository: BulkRegistrationRepository;
  /** The registration lock single registration takes; a batch holds it for each of its keys. */
  lock: RegistrationLock;
  lcic: LcicClient;
  logger: Logger;
  sdkAppId: number;
  sdkAppIds: readonly number[];
  /** Longest a batch waits for the locks of keys other requests are working on (default 30 s). */
  lockTimeoutMs?: number;
  /**
   * Finishes the delete of a key whose delete was requested and never finished (users/deletion.ts),
   * the caller holding the key's lock (a batch holds them all): a batch registers such a key anew.
   */
  finishDeletion: (sdkAppId: number, originId: string) => Promise<void>;
  /** Called after users were created, so their tokens can be fetched in the background. */
  onCreated?: (users: readonly ClassroomUserRow[]) => void;
  sleep?: (ms: number) => Promise<void>;
}

const itemSchema = z
  .object({
    originId: registrationFields.originId,
    name: registrationFields.name.nullish(),
    avatar: registrationFields.avatar.nullish(),
  })
  .strip();

const fastCheck = {
  originId: compileFieldCheck(registrationFields.originId),
  name: compileFieldCheck(registrationFields.name.nullish()),
  avatar: compileFieldCheck(registrationFields.avatar.nullish()),
};

/** An item every field of which certainly passes (else `itemSchema` decides). */
function fastItem(item: unknown): BulkItem | undefined {
  if (typeof item !== "object" || item === null || Array.isArray(item)) return undefined;
  const { originId, name, avatar } = item as Record<string, unknown>;
  if (!fastCheck.originId(originId) || !fastCheck.name(name) || !fastCheck.avatar(avatar)) return undefined;
  return { originId: originId as string, name: (name as string | null | undefined) ?? null, avatar: (avatar as string | null | undefined) ?? null };
}

/** Every problem of the input at once, with paths such as ["input", "users", "17", "name"]; nothing is called before. */
export function parseBulkInput(raw: unknown): { sdkAppId: number | null | undefined; users: BulkItem[] } {
  const input = (raw ?? {}) as { sdkAppId?: unknown; users?: unknown };
  const errors: FieldError[] = [];
  let sdkAppId: number | null | undefined;
  if (input.sdkAppId != null) {
    const parsed = registrationFields.sdkAppId.safeParse(input.sdkAppId);
    if (parsed.success) sdkAppId = parsed.data;
    else errors.push({ path: ["input", "sdkAppId"], message: parsed.error.issues[0]!.message });
  }
  const list = Array.isArray(input.users) ? input.users : [];
  if (list.length === 0 || list.length > BULK_REGISTER_MAX) {
    errors.push({ path: ["input", "users"], message: `must hold 1 to ${BULK_REGISTER_MAX} users, got ${list.length}` });
  }
  const users: BulkItem[] = [];
  const firstIndex = new Map<string, number>();
  list.forEach((raw, index) => {
    let item = fastItem(raw);
    if (!item) {
      const parsed = itemSchema.safeParse(raw);
      if (!parsed.success) {
        for (const issue of parsed.error.issues) errors.push({ path: ["input", "users", String(index), ...issue.path.map(String)], message: issue.message });
        return;
      }
      item = { originId: parsed.data.originId, name: parsed.data.name ?? null, avatar: parsed.data.avatar ?? null };
    }
    const first = firstIndex.get(item.originId);
    if (first !== undefined) {
      errors.push({ path: ["input", "users", String(index), "originId"], message: `repeats the originId of item ${first}; originIds must be distinct` });
      return;
    }
    firstIndex.set(item.originId, index);
    users.push(item);
  });
  if (errors.length > 0) throw new ValidationError(errors);
  return { sdkAppId, users };
}

export class BulkRegistration {
  private readonly lockTimeoutMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly deps: BulkRegistrationDeps) {
    this.lockTimeoutMs = deps.lockTimeoutMs ?? 30_000;
    this.sleep = deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  async registerMany(rawInput: unknown): Promise<BulkRegisterResult> {
    const input = parseBulkInput(rawInput);
    const sdkAppId = resolveSdkAppId(this.deps, input.sdkAppId);
    const { repository } = this.deps;
    const originIds = input.users.map((u) => u.originId);

    // Without any lock: users already registered are answered from PostgreSQL and not sent.
    const known = new Map<string, ClassroomUserRow>();
    for (const row of await repository.findRegistered(sdkAppId, originIds)) known.set(row.originId, row);
    const created = new Map<string, ClassroomUserRow>();
    let requestId: string | undefined;

    const toRegister = input.users.filter((u) => !known.has(u.originId));
    if (toRegister.length > 0) {
      const batchId = randomUUID();
      await repository.ensurePendingMany(sdkAppId, toRegister, batchId);
      try {
        requestId = await this.deps.lock.withKeysLocked(sdkAppId, toRegister.map((u) => u.originId), this.lockTimeoutMs, () =>
          this.registerLocked(sdkAppId, toRegister, batchId, known, created),
        );
      } catch (error) {
        if (error instanceof LockTimeoutError) throw new LcicUnavailableError("Registration.Busy");
        throw error;
      }
      if (created.size > 0) this.deps.onCreated?.([...created.values()]);
    }

    const users = input.users.map((u): BulkRegisterOutcome => {
      const mine = created.get(u.originId);
      if (mine) return { originId: u.originId, user: mine, created: true };
      return { originId: u.originId, user: known.get(u.originId)!, created: false };
    });
    return { users, createdCount: created.size, existingCount: users.length - created.size, requestId };
  }

  /**
   * The reconciler's part: pending rows a bulk registration sent (attempts > 0) whose request died or
   * gave up, completed by sending them again in a BatchRegister (safe: it overwrites by OriginId, with
   * the profile recorded on each row). Keys another request is working on are left for the next sweep.
   * Returns how many rows were registered.
   */
  async completeStale(rows: readonly ClassroomUserRow[]): Promise<number> {
    let registered = 0;
    const bySdkAppId = new Map<number, ClassroomUserRow[]>();
    for (const row of rows) bySdkAppId.set(row.sdkAppId, [...(bySdkAppId.get(row.sdkAppId) ?? []), row]);
    for (const [sdkAppId, group] of bySdkAppId) {
      for (let i = 0; i < group.length; i += BULK_REGISTER_MAX) {
        const items = group.slice(i, i + BULK_REGISTER_MAX).map((r) => ({ originId: r.originId, name: r.name, avatar: r.avatar }));
        const created = new Map<string, ClassroomUserRow>();
        try {
          // A short wait: a key held by a live request is that request's to finish.
          await this.deps.lock.withKeysLocked(sdkAppId, items.map((it) => it.originId), 1_000, () =>
            // Background: the reconciler's BatchRegister uses only LCIC budget nobody waits for.
            this.registerLocked(sdkAppId, items, group[i]!.batchId ?? randomUUID(), new Map(), created, { recreateMissing: false, priority: "background" }),
          );
        } catch (error) {
          if (!(error instanceof LockTimeoutError)) throw error;
        }
        registered += created.size;
        if (created.size > 0) this.deps.onCreated?.([...created.values()]);
      }
    }
    return registered;
  }

  /** Under every key's lock: what is still pending goes to LCIC, in one BatchRegister (again, if its reply is lost). */
  private async registerLocked(
    sdkAppId: number,
    items: readonly BulkItem[],
    batchId: string,
    known: Map<string, ClassroomUserRow>,
    created: Map<string, ClassroomUserRow>,
    options: { recreateMissing: boolean; priority?: LcicPriority } = { recreateMissing: true },
  ): Promise<string | undefined> {
    const { repository, lcic, logger } = this.deps;
    // Re-read under the locks: another request (a single registration, another batch) may have
    // registered some keys meanwhile, or the reconciler cleared a row.
    const originIds = items.map((i) => i.originId);
    let rows = new Map((await repository.findStates(sdkAppId, originIds)).map((r) => [r.originId, r]));
    const unfinishedDeletes = [...rows.values()].filter((r) => r.deletionRequested);
    if (unfinishedDeletes.length > 0) {
      // Deletes whose outcome was lost: finished first (rare; one DeleteUser each), so the batch
      // registers those keys anew instead of answering or completing a user LCIC may no longer have.
      for (const row of unfinishedDeletes) await this.deps.finishDeletion(sdkAppId, row.originId);
      rows = new Map((await repository.findStates(sdkAppId, originIds)).map((r) => [r.originId, r]));
    }
    const missing = items.filter((i) => !rows.has(i.originId));
    if (missing.length > 0 && options.recreateMissing) {
      await repository.ensurePendingMany(sdkAppId, missing, batchId);
      rows = new Map((await repository.findStates(sdkAppId, originIds)).map((r) => [r.originId, r]));
    }
    const pending: Array<{ item: BulkItem; row: { id: number; attempts: number } }> = [];
    const registeredMeanwhile: string[] = [];
    for (const item of items) {
      const row = rows.get(item.originId);
      if (!row) continue; // cleared meanwhile, and not ours to bring back (the reconciler's case)
      if (row.status === "registered") registeredMeanwhile.push(item.originId);
      else pending.push({ item, row });
    }
    if (registeredMeanwhile.length > 0) {
      for (const row of await repository.findRegistered(sdkAppId, registeredMeanwhile)) known.set(row.originId, row);
    }
    if (pending.length === 0) return undefined;
    // Rows an earlier request may already have sent (a lost reply, a crash) must never be deleted
    // on a refusal now: LCIC may hold their users.
    const sentEarlier = new Set(pending.filter((p) => p.row.attempts > 0).map((p) => p.row.id));

    let remaining = pending;
    let requestId: string | undefined;
    for (let round = 1; remaining.length > 0; round++) {
      await repository.recordAttemptMany(remaining.map((p) => ({ id: p.row.id, name: p.item.name, avatar: p.item.avatar })), batchId, options.priority !== "background");
      let answer: Awaited<ReturnType<LcicClient["batchRegister"]>>;
      try {
        answer = await lcic.batchRegister(
          remaining.map((p) => ({
            sdkAppId,
            originId: p.item.originId,
            ...(p.item.name != null ? { name: p.item.name } : {}),
            ...(p.item.avatar != null ? { avatar: p.item.avatar } : {}),
          })),
          options.priority ? { priority: options.priority } : undefined,
        );
      } catch (error) {
        if (!(error instanceof LcicError)) throw error;
        const ids = remaining.map((p) => p.row.id);
        if (error.outcomeUnknown) {
          logger.warn({ action: "BatchRegister", code: error.code, sdkAppId, users: remaining.length, round }, "BatchRegister outcome unknown");
          if (round < BATCH_ROUNDS) {
            // Safe: BatchRegister overwrites by OriginId, so if the first call landed this one only
            // repeats it, and its answer carries the userIds.
            await this.sleep(50 + Math.random() * 150);
            continue;
          }
          await repository.recordFailureMany(ids, error.code);
          throw toDomainError(error, logger, sdkAppId);
        }
        // Our pacer refused to queue it: not sent, so this attempt does not count.
        if (error.code === LCIC_QUEUE_FULL) await repository.unrecordAttemptMany(ids);
        // Refused: nothing was created. Only rows no earlier request sent are ours to remove.
        if (round === 1) await repository.deletePendingMany(ids.filter((id) => !sentEarlier.has(id)));
        else await repository.recordFailureMany(ids, error.code);
        throw toDomainError(error, logger, sdkAppId);
      }
      requestId = answer.requestId || requestId;
      const userIds = new Map(answer.users.filter((u) => u.sdkAppId === sdkAppId).map((u) => [u.originId, u.userId]));
      const done = remaining.filter((p) => userIds.has(p.item.originId));
      for (const row of await repository.markRegisteredMany(done.map((p) => ({ id: p.row.id, userId: userIds.get(p.item.originId)! })), answer.requestId || null)) {
        created.set(row.originId, row);
      }
      remaining = remaining.filter((p) => !userIds.has(p.item.originId));
      if (remaining.length > 0) {
        // LCIC's answer lists "the users registered successfully": the others stay pending, counted.
        logger.warn({ action: "BatchRegister", sdkAppId, missing: remaining.length, round }, "BatchRegister answered without some users");
        if (round >= BATCH_ROUNDS) {
          await repository.recordFailureMany(remaining.map((p) => p.row.id), "BatchRegister.Incomplete");
          // Safe to retry: the same request sends the missing ones again.
          throw new LcicUnavailableError("BatchRegister.Incomplete", answer.requestId || undefined);
        }
      }
    }
    return requestId;
  }
}
