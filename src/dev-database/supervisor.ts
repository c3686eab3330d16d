import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyBaseLogger } from 'fastify'
import type { EmbeddedPostgres } from './embedded-postgres.js'

export interface SupervisionSettings {
  /** Starts tried after one unexpected stop before giving up; 0 gives up at once. */
  restarts: number
  /** Wait before the first start, doubled for each further one up to maxDelayMs. */
  firstDelayMs?: number
  maxDelayMs?: number
  /** A server that has run this long since its last restart starts a fresh count. */
  stableAfterMs?: number
  /** How often the server is looked at. */
  pollMs?: number
}

export interface SupervisedDatabase {
  /** Stops supervising (waits for a restart under way first), then releases the server. */
  stop: () => Promise<void>
}

type Log = Pick<FastifyBaseLogger, 'info' | 'warn' | 'error'>

const DEFAULTS = { firstDelayMs: 250, maxDelayMs: 4000, stableAfterMs: 60_000, pollMs: 250 }

/**
 * Keeps the embedded PostgreSQL this process holds running for as long as it holds it. The
 * server is shared and detached (see embedded-postgres.ts), so no exit event reaches this
 * process: its postmaster is looked at every `pollMs` (postmaster.pid, the process alive).
 * While this process holds a lease nobody stops it on purpose, so when it is gone (the OOM
 * killer, a stray kill, a crash) it is started again on the same folder and port, under the
 * folder's lock, unless another holder already did (then it is simply rejoined). The pool's
 * URL stays right and calls recover by themselves; until then they fail fast with -32011 and
 * /readyz answers 503, as for any unreachable database.
 *
 * Attempts are bounded and spaced (250 ms, doubling, at most 4 s apart), and every step is
 * logged. When none succeeds, `onGiveUp` is called once: the owner should exit non-zero, so
 * that whatever supervises the process restarts the whole. A server that dies again soon
 * after a restart continues the same count, so one that cannot stay up ends in `onGiveUp`
 * rather than in a restart loop.
 */
export function superviseEmbeddedPostgres (
  database: EmbeddedPostgres,
  settings: SupervisionSettings,
  log: Log,
  onGiveUp: (error: Error) => void
): SupervisedDatabase {
  const { firstDelayMs, maxDelayMs, stableAfterMs, pollMs } = { ...DEFAULTS, ...settings }
  const cancel = new AbortController()
  let failures = 0
  let lastStart = Date.now()

  /** Resolves when the server is lost for good (false) or supervision is stopped (true). */
  async function recover (): Promise<boolean> {
    log.error({ port: database.port, restarts: settings.restarts }, 'embedded PostgreSQL exited unexpectedly')
    if (Date.now() - lastStart >= stableAfterMs) failures = 0
    let lastError = new Error('the embedded PostgreSQL stopped')
    while (failures < settings.restarts) {
      failures++
      const delayMs = Math.min(maxDelayMs, firstDelayMs * 2 ** (failures - 1))
      log.warn({ attempt: failures, of: settings.restarts, delayMs }, 'restarting embedded PostgreSQL')
      await sleep(delayMs, undefined, { signal: cancel.signal })
      const started = performance.now()
      try {
        const how = await database.restart()
        lastStart = Date.now()
        log.info({ attempt: failures, how, restartMs: Math.round(performance.now() - started) }, 'embedded PostgreSQL restarted')
        return true
      } catch (error) {
        lastError = error as Error
        log.error({ attempt: failures, of: settings.restarts, reason: lastError.message }, 'embedded PostgreSQL restart failed')
      }
    }
    log.error({ restarts: settings.restarts }, 'embedded PostgreSQL could not be restarted')
    onGiveUp(lastError)
    return false
  }

  async function watch () {
    for (;;) {
      await sleep(pollMs, undefined, { signal: cancel.signal })
      if (!await database.isRunning() && !cancel.signal.aborted && !await recover()) return
    }
  }

  const watching = watch().catch((error: unknown) => {
    if (!cancel.signal.aborted) log.error({ err: error }, 'embedded PostgreSQL supervision failed')
  })
  return {
    stop: async () => {
      cancel.abort()
      await watching
      await database.release()
    },
  }
}
