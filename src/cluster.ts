import cluster, { type Worker } from 'node:cluster'
import type { FastifyBaseLogger } from 'fastify'
import { AggregatorRegistry, type Registry } from 'prom-client'
import type { Config } from './config.js'
import type { MetricsRenderer } from './plugins/metrics.js'

/**
 * WORKERS > 1: this process becomes the primary of a node:cluster. It resolves the database
 * once (server.ts: starts and migrates the embedded one, or migrates DATABASE_URL when
 * MIGRATE_ON_START says so) and forks the workers, each of which is the ordinary
 * single-process service (server.ts) on the resolved URL, sharing the port through the
 * primary. app.ts never knows.
 *
 * - A worker that dies is replaced after a backoff (200 ms, doubling, at most 10 s); more
 *   than RESTART_LIMIT deaths within a minute is a crash loop, and the primary stops
 *   everything and exits 1, so the orchestrator sees it.
 * - SIGTERM/SIGINT to the primary asks every worker to drain (each runs its own graceful
 *   close: stop accepting, finish calls in flight, close the pool), waits for all of them,
 *   then stops the embedded database and exits 0. A second signal forces the exit (1);
 *   workers exit with their primary.
 * - GET /metrics on any worker answers for all of them: the worker asks the primary, which
 *   gathers every worker's registry with prom-client's AggregatorRegistry (counters and
 *   histograms add up).
 */

const SHUTDOWN = 'user-rpc:shutdown'
const METRICS_REQUEST = 'user-rpc:metrics-request'
const METRICS_REPLY = 'user-rpc:metrics'

/** Worker deaths within RESTART_WINDOW_MS that the primary replaces before it gives up. */
const RESTART_LIMIT = 5
const RESTART_WINDOW_MS = 60_000
/** What the primary adds to SHUTDOWN_GRACE_MS for itself: stopping the embedded database. */
const PRIMARY_STOP_MS = 10_000
/** Longer than prom-client's own 5 s wait for the workers' registries. */
const METRICS_WAIT_MS = 8_000

/** 200 ms after the first death in the window, doubling with each one, at most 10 s. */
const restartDelayMs = (recentDeaths: number) => Math.min(10_000, 100 * 2 ** recentDeaths)

interface Message {
  type?: unknown
  id?: unknown
  text?: unknown
  error?: unknown
}

const isMessage = (value: unknown): value is Message => typeof value === 'object' && value !== null

/** Whether this process is to be a cluster's primary rather than serve the port itself. */
export function runsWorkers (config: Config): boolean {
  return config.WORKERS > 1 && cluster.isPrimary
}

/** What a process serves once its database is resolved: the app on the port, or a group of workers. */
export interface Serving {
  /** Resolves once the port is served. */
  start: (databaseUrl: string) => Promise<void>
  /** Drains and stops; before start, or called again, it does what is left (nothing). */
  close: () => Promise<void>
  /** What close needs beyond SHUTDOWN_GRACE_MS. */
  stopMs: number
  shutdownLine: string
  shutdownFields: () => Record<string, unknown>
  readyFields: Record<string, unknown>
}

/**
 * The primary's side: forks the workers, replaces one that dies, answers their metrics
 * requests, and drains them all on close. It serves no request itself. `onCrashLoop` is
 * told when workers die too often to go on.
 */
export function workerGroup (config: Config, log: FastifyBaseLogger, onCrashLoop: (error: Error) => void): Serving {
  const workers = new Set<Worker>()
  // Listening, so past the point where they follow the primary's messages.
  const listening = new WeakSet<Worker>()
  const deaths: number[] = []
  let databaseUrl: string | undefined
  let ready = false
  let stopping = false

  const stopWorkers = () => Promise.all([...workers].map((worker) => new Promise<void>((resolve) => {
    if (worker.isDead()) return resolve()
    worker.once('exit', () => resolve())
    // One still starting may not listen for messages yet; a signal stops it either way.
    if (listening.has(worker) && worker.isConnected()) worker.send({ type: SHUTDOWN })
    else worker.process.kill('SIGTERM')
  })))

  // Once, whichever path gets here first (a signal, a failed start, a crash loop).
  let stopped: Promise<void> | undefined
  const close = () => {
    stopping = true
    stopped ??= (async () => {
      // Each worker ends its own drain within SHUTDOWN_GRACE_MS; this only guards against one
      // that cannot (the primary's own grace timer is not there on the paths that give up).
      const late = setTimeout(() => { for (const worker of workers) worker.process.kill('SIGKILL') }, config.SHUTDOWN_GRACE_MS + 2_000)
      await stopWorkers()
      clearTimeout(late)
    })()
    return stopped
  }

  const fork = (url: string) => new Promise<Worker>((resolve, reject) => {
    // Each worker is a plain service on an external database: the one resolved here.
    const worker = cluster.fork({ DATABASE_URL: url, MIGRATE_ON_START: 'false' })
    workers.add(worker)
    worker.once('listening', () => {
      listening.add(worker)
      log.info({ worker: worker.id, pid: worker.process.pid }, 'worker listening')
      resolve(worker)
    })
    worker.once('exit', (code, signal) => reject(new Error(`worker ${worker.id} exited (${signal ?? code}) before it listened`)))
  })

  cluster.on('exit', (worker, code, signal) => {
    workers.delete(worker)
    if (stopping || !ready) return
    const now = Date.now()
    const recent = deaths.filter((at) => now - at < RESTART_WINDOW_MS)
    recent.push(now)
    deaths.splice(0, deaths.length, ...recent)
    if (recent.length > RESTART_LIMIT) {
      const reason = `${recent.length} worker deaths within ${RESTART_WINDOW_MS / 1000} s: stopping`
      log.fatal(reason)
      onCrashLoop(new Error(reason))
      return
    }
    const delayMs = restartDelayMs(recent.length)
    log.error({ worker: worker.id, pid: worker.process.pid, code, signal, restartInMs: delayMs }, 'worker died: starting a replacement')
    setTimeout(() => {
      // A replacement that dies before it listens is one more death, handled above.
      if (!stopping && databaseUrl) fork(databaseUrl).catch(() => {})
    }, delayMs).unref()
  })

  const aggregator = new AggregatorRegistry()
  cluster.on('message', (worker, message: unknown) => {
    if (!isMessage(message) || message.type !== METRICS_REQUEST) return
    const reply = (body: Omit<Message, 'type' | 'id'>) => {
      if (worker.isConnected()) worker.send({ type: METRICS_REPLY, id: message.id, ...body })
    }
    aggregator.clusterMetrics().then(
      (text) => reply({ text }),
      (error: Error) => reply({ error: error.message })
    )
  })

  return {
    start: async (url) => {
      databaseUrl = url
      await Promise.all(Array.from({ length: config.WORKERS }, () => fork(url)))
      ready = true
    },
    close,
    stopMs: PRIMARY_STOP_MS,
    shutdownLine: 'shutting down: draining every worker',
    shutdownFields: () => ({ workers: workers.size }),
    readyFields: { workers: config.WORKERS },
  }
}

/** What server.ts does differently in a cluster worker. */
export interface WorkerRole {
  /** Added to every log line, so a line says which worker wrote it. */
  logFields: { worker: number }
  /** The signals the primary handles for the group: close-with-grace must leave them to onShutdown. */
  skipSignals: Array<'SIGTERM' | 'SIGINT'>
  /** Runs `close` once: when the primary asks, or a signal reaches this worker itself. */
  onShutdown: (close: () => void) => void
  /** GET /metrics answers with every worker's metrics, gathered by the primary. */
  shareMetrics: (registry: Registry) => MetricsRenderer
}

/** This process's role as a cluster worker, or undefined when it serves alone. */
export function workerRole (): WorkerRole | undefined {
  const self = cluster.worker
  if (!cluster.isWorker || !self) return undefined
  // Constructing one installs prom-client's listener for the primary's requests, before the
  // app exists, so a worker that is still starting answers (with nothing) rather than not
  // at all, which would hold every scrape until prom-client's timeout.
  // eslint-disable-next-line no-new
  new AggregatorRegistry()

  const waiting = new Map<unknown, { resolve: (text: string) => void, reject: (error: Error) => void }>()
  let nextId = 0
  process.on('message', (message: unknown) => {
    if (!isMessage(message) || message.type !== METRICS_REPLY) return
    const request = waiting.get(message.id)
    waiting.delete(message.id)
    if (typeof message.text === 'string') request?.resolve(message.text)
    else request?.reject(new Error(`metrics from the workers: ${String(message.error)}`))
  })
  const askPrimary = () => new Promise<string>((resolve, reject) => {
    const id = nextId++
    const timer = setTimeout(() => {
      waiting.delete(id)
      reject(new Error('metrics from the workers: the primary did not answer'))
    }, METRICS_WAIT_MS)
    waiting.set(id, {
      resolve: (text) => { clearTimeout(timer); resolve(text) },
      reject: (error) => { clearTimeout(timer); reject(error) },
    })
    process.send?.({ type: METRICS_REQUEST, id })
  })

  return {
    logFields: { worker: self.id },
    skipSignals: ['SIGTERM', 'SIGINT'],
    onShutdown: (close) => {
      // Ctrl-C or systemd signal the whole group, and the primary then asks too: once is enough.
      let asked = false
      const once = () => {
        if (asked) return
        asked = true
        close()
      }
      process.on('message', (message: unknown) => { if (isMessage(message) && message.type === SHUTDOWN) once() })
      process.on('SIGTERM', once)
      process.on('SIGINT', once)
    },
    shareMetrics: (registry) => {
      AggregatorRegistry.setRegistries([registry])
      return askPrimary
    },
  }
}
