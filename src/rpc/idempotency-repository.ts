import { Prisma } from '../generated/prisma/client.js'

type Tx = Prisma.TransactionClient

/** Who holds a key and for which call: what the row says before the call's answer is stored. */
export interface KeyClaim {
  caller: string
  key: string
  method: string
  paramsDigest: Uint8Array<ArrayBuffer>
}

/** A committed row: the call that first used the key, and its answer. */
export interface StoredCall {
  method: string
  paramsDigest: Uint8Array
  result: unknown
  createdAt: Date
}

/**
 * The only module that knows how idempotency keys are stored (table idempotency_keys, one row
 * per caller and key). Every function but the sweep runs on the call's own transaction, so a
 * key's row commits or rolls back with the write it answers for.
 */
export const idempotencyRepository = {
  /**
   * Inserts the key's row, unless one exists; true when this call now holds the key. While
   * another open transaction holds an uncommitted row for the same key, the unique index
   * makes this wait for that transaction's end: calls with one key run one at a time, and
   * the waiting one finds the committed answer (or, after a rollback, takes the key itself).
   */
  async claim (tx: Tx, claim: KeyClaim): Promise<boolean> {
    const inserted = await tx.idempotencyKey.createManyAndReturn({
      data: [{ ...claim, result: Prisma.JsonNull }],
      skipDuplicates: true,
      select: { key: true },
    })
    return inserted.length === 1
  },

  async find (tx: Tx, caller: string, key: string): Promise<StoredCall | null> {
    return await tx.idempotencyKey.findUnique({
      where: { caller_key: { caller, key } },
      select: { method: true, paramsDigest: true, result: true, createdAt: true },
    })
  },

  /** Stores the answer of the call that holds the key (see claim). */
  async saveResult (tx: Tx, caller: string, key: string, result: unknown): Promise<void> {
    await tx.idempotencyKey.update({
      where: { caller_key: { caller, key } },
      data: { result: result === null ? Prisma.JsonNull : result as Prisma.InputJsonValue },
      select: { key: true },
    })
  },

  /** Removes one key's row if it was created before `before` (expired); true if it did. */
  async removeIfOlder (tx: Tx, caller: string, key: string, before: Date): Promise<boolean> {
    const removed = await tx.idempotencyKey.deleteMany({ where: { caller, key, createdAt: { lt: before } } })
    return removed.count === 1
  },

  /**
   * Deletes at most `limit` rows created before `before`, in one short statement of its own.
   * SKIP LOCKED passes over rows a call holds right now (one replacing an expired key), so the
   * sweep never waits on a call, and a call waits at most on one small chunk.
   */
  async deleteOlderChunk (db: Pick<Tx, '$executeRaw'>, before: Date, limit: number): Promise<number> {
    return await db.$executeRaw`
      DELETE FROM idempotency_keys
      WHERE (caller, key) IN (
        SELECT caller, key FROM idempotency_keys
        WHERE created_at < ${before}
        ORDER BY created_at
        LIMIT ${limit}
        FOR UPDATE SKIP LOCKED
      )`
  },
}
