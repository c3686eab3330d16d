import type { ChildProcess } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyBaseLogger } from 'fastify'
import type { EmbeddedDatabase } from './embedded-postgres.js'

export interface SupervisionSettings {
  /** Restarts tried after one unexpected exit before giving up; 0 gives up at once. */
  restarts: number
  /** Wait before the first restart, doubled for each further one up to maxDelayMs. */
  firstDelayMs?: number
  maxDelayMs?: number
  /** A postmaster that has run this long since its last restart starts a fresh count. */
  stableAfterMs?: number
}

export interface SupervisedDatabase {
  /** Stops supervising, then stops PostgreSQL (waits for a restart under way first). */
  stop: () => Promise<void>
}

type Log = Pick<FastifyBaseLogger, 'info' | 'warn' | 'error'>

const DEFAULTS = { firstDelayMs: 250, maxDelayMs: 4000, stableAfterMs: 60_000 }

/**
 * Keeps an embedded PostgreSQL running for as long as its owner wants it: when the postmaster
 * exits without being asked (the OOM killer, a stray kill, a crash), it is started again on
 * the same folder and port, so the pool's URL stays right and calls recover by themselves;
 * until then they fail fast with -32011 and /readyz answers 503, as for any unreachable
 * database. Restarts are bounded and spaced (250 ms, doubling, at most 4 s apart), and every
 * step is logged. When none succeeds, `onGiveUp` is called once: the owner should exit
 * non-zero, so that whatever supervises the process restarts the whole.
 *
 * A postmaster that dies again soon after a restart continues the same count, so a server
 * that cannot stay up ends in `onGiveUp` rather than in a restart loop.
 *
 * Whoever starts the embedded database uses this (resolve-database.ts), whatever process
 * that is: the service itself, or the primary of a group of workers.
 */
export function superviseEmbeddedPostgres (
  database: EmbeddedDatabase,
  settings: SupervisionSettings,
  log: Log,
  onGiveUp: (error: Error) => void
): SupervisedDatabase {
  const { firstDelayMs, maxDelayMs, stableAfterMs } = { ...DEFAULTS, ...settings }
  let stopping = false
  let failures = 0
  let lastStart = Date.now()
  /** The restart under way, so a stop waits for it instead of racing it. */
  let recovering: Promise<void> | undefined
  const cancel = new AbortController()

  const watch = (postmaster: ChildProcess | undefined) => {
    if (!postmaster) {
      recovering = recover(null, null)
      return
    }
    postmaster.once('exit', (code, signal) => {
      if (!stopping) recovering = recover(code, signal)
    })
  }

  async function recover (code: number | null, signal: NodeJS.Signals | null) {
    log.error({ code, signal, restarts: settings.restarts }, 'embedded PostgreSQL exited unexpectedly')
    if (Date.now() - lastStart >= stableAfterMs) failures = 0
    let lastError = new Error(`the embedded PostgreSQL exited (code ${code}, signal ${signal})`)
    while (failures < settings.restarts) {
      if (stopping) return
      failures++
      const delayMs = Math.min(maxDelayMs, firstDelayMs * 2 ** (failures - 1))
      log.warn({ attempt: failures, of: settings.restarts, delayMs }, 'restarting embedded PostgreSQL')
      try {
        await sleep(delayMs, undefined, { signal: cancel.signal })
      } catch {
        return
      }
      const started = performance.now()
      try {
        await database.restart()
      } catch (error) {
        lastError = error as Error
        log.error({ attempt: failures, of: settings.restarts, reason: lastError.message }, 'embedded PostgreSQL restart failed')
        continue
      }
      lastStart = Date.now()
      if (stopping) return
      log.info({ attempt: failures, restartMs: Math.round(performance.now() - started), pid: database.postmaster?.pid }, 'embedded PostgreSQL restarted')
      watch(database.postmaster)
      return
    }
    if (stopping) return
    log.error({ restarts: settings.restarts }, 'embedded PostgreSQL could not be restarted')
    onGiveUp(lastError)
  }

  watch(database.postmaster)
  return {
    stop: async () => {
      stopping = true
      cancel.abort()
      await recovering
      await database.stop()
    },
  }
}
