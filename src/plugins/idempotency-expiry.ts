import { setImmediate as yieldToCalls } from 'node:timers/promises'
import fp from 'fastify-plugin'
import { idempotencyRepository } from '../rpc/idempotency-repository.js'

export interface IdempotencyExpiryOptions {
  ttlHours: number
  /** Time between sweeps; the first runs as the app starts. */
  intervalMs?: number
  /** Rows per DELETE: small, so no statement holds many row locks or runs long. */
  chunk?: number
}

const FIVE_MINUTES = 5 * 60_000
const HOUR = 3_600_000

/**
 * Deletes idempotency keys older than IDEMPOTENCY_TTL_HOURS, on the primary, in the
 * background: at start, then every few minutes, a chunk of rows per statement until none is
 * left. Calls never wait for it (the sweep skips rows a call holds) and do not depend on it
 * either: an expired key that is still there answers nothing (src/rpc/idempotency.ts), so the
 * sweep only keeps the table small. With WORKERS > 1 every worker sweeps; SKIP LOCKED keeps
 * them out of each other's way. A sweep that fails (database down) is logged and tried at the
 * next turn.
 */
export const idempotencyExpiry = fp<IdempotencyExpiryOptions>(async (app, options) => {
  const intervalMs = options.intervalMs ?? FIVE_MINUTES
  const chunk = options.chunk ?? 1000
  let running: Promise<void> | undefined
  let stopped = false

  async function sweep () {
    const before = new Date(Date.now() - options.ttlHours * HOUR)
    let total = 0
    for (;;) {
      const deleted = await idempotencyRepository.deleteOlderChunk(app.db, before, chunk)
      total += deleted
      if (deleted < chunk || stopped) break
      await yieldToCalls()
    }
    if (total > 0) app.log.info({ deleted: total, ttlHours: options.ttlHours }, 'expired idempotency keys deleted')
  }

  const turn = () => {
    if (running) return
    running = sweep()
      .catch((error: unknown) => { app.log.warn({ reason: (error as Error).message }, 'idempotency key sweep failed; it runs again at the next turn') })
      .finally(() => { running = undefined })
  }

  let timer: NodeJS.Timeout | undefined
  app.addHook('onReady', async () => {
    turn()
    timer = setInterval(turn, intervalMs).unref()
  })
  // Before the database plugin's onClose (hooks close in reverse order): the pool outlives the sweep.
  app.addHook('onClose', async () => {
    stopped = true
    clearInterval(timer)
    await running
  })
}, { name: 'idempotency-expiry', dependencies: ['database'] })
