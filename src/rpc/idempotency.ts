import { createHash } from 'node:crypto'
import { stringify } from 'safe-stable-stringify'
import { z } from 'zod'
import type { Prisma } from '../generated/prisma/client.js'
import { idempotencyKeyReused, transactionConflict } from './errors.js'
import { idempotencyRepository } from './idempotency-repository.js'

/** The param an idempotent method takes its key in; the Idempotency-Key header is the other way. */
export const IDEMPOTENCY_KEY_PARAM = 'idempotencyKey'

const MAX_KEY_LENGTH = 255

/**
 * A key as a caller may choose it (a UUID is typical): 1-255 characters (code points, as
 * PostgreSQL's varchar counts them), well-formed Unicode, no control characters, so that it
 * is stored exactly as sent.
 */
export const idempotencyKeySchema = z.string({ error: 'idempotencyKey must be a string' })
  .min(1, 'idempotencyKey must not be empty')
  .refine((value) => value.isWellFormed(), 'idempotencyKey must be valid Unicode')
  .refine((value) => !/\p{Cc}/u.test(value), 'idempotencyKey must not contain control characters')
  .refine((value) => [...value].length <= MAX_KEY_LENGTH, `idempotencyKey must be at most ${MAX_KEY_LENGTH} characters`)
  .meta({
    minLength: 1,
    maxLength: MAX_KEY_LENGTH,
    description: 'A key of your choosing (a UUID, say), 1-255 characters: a repeat of this call with the same key and params gets the first answer instead of running again (docs/retries.md)',
  })

/** One call that carries a key: who sent it, and what it asked for. */
export interface KeyedCall {
  /** The API key's id, or '' with open access: keys are per caller. */
  caller: string
  key: string
  method: string
  /** The validated params, the key aside. */
  params: unknown
}

/** Attempts at taking a key whose row keeps vanishing (expired, then swept) before a retry. */
const MAX_CLAIMS = 3

/**
 * "A repeat gets the stored answer", for any method marked idempotent. The key's row is
 * inserted first, in the call's own transaction, and the answer stored in it after `run`: so
 * the row commits exactly when the write does, and a failed call leaves no key behind. Calls
 * with one key that arrive together are serialized by the table's unique index, not by a lock
 * of ours (idempotencyRepository.claim). A key that is older than `ttlMs` answers nothing: it
 * is replaced, as if it had never been used.
 */
export async function answerOnce (tx: Prisma.TransactionClient, call: KeyedCall, ttlMs: number, run: () => Promise<unknown>): Promise<unknown> {
  const paramsDigest = digestOf(call.params)
  for (let claims = 0; claims < MAX_CLAIMS; claims++) {
    if (await idempotencyRepository.claim(tx, { caller: call.caller, key: call.key, method: call.method, paramsDigest })) {
      const result = await run()
      await idempotencyRepository.saveResult(tx, call.caller, call.key, result)
      return result
    }
    const stored = await idempotencyRepository.find(tx, call.caller, call.key)
    // Gone between the two statements (the sweep removed it): claim it again.
    if (!stored) continue
    const expiredBefore = new Date(Date.now() - ttlMs)
    if (stored.createdAt < expiredBefore) {
      await idempotencyRepository.removeIfOlder(tx, call.caller, call.key, expiredBefore)
      continue
    }
    if (stored.method !== call.method || !Buffer.from(stored.paramsDigest).equals(paramsDigest)) throw idempotencyKeyReused(call.key)
    return stored.result
  }
  // Only a sweep racing every attempt gets here; the call did nothing and may be sent again.
  throw transactionConflict()
}

/** SHA-256 of the params as canonical JSON (members sorted), so member order does not matter. */
function digestOf (params: unknown): Uint8Array<ArrayBuffer> {
  return new Uint8Array(createHash('sha256').update(stringify(params) ?? '').digest())
}
