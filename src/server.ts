import closeWithGrace from 'close-with-grace'
import { pino, type Logger } from 'pino'
import { buildApp } from './app.js'
import { runsWorkers, workerGroup, workerRole, type Serving, type WorkerRole } from './cluster.js'
import { ConfigError, loadConfig, type Config } from './config.js'
import { resolveDatabase, type ResolvedDatabase } from './db/resolve-database.js'
import { flushTraces, tracesMissed } from './tracing/flush-traces.js'

/**
 * The process: configuration → database → serving → ready, and a graceful close on
 * SIGTERM/SIGINT (stop accepting, let calls in flight finish, close the pool, stop the
 * embedded database, exit 0; a second signal or the grace period's end forces the exit).
 * Serving is the app on the port, or with WORKERS > 1 a group of workers (src/cluster.ts),
 * each of which runs this same story as a lone process on the database resolved here.
 */
async function main () {
  const config = configOrExit()
  const worker = workerRole()
  const log = pino({ level: config.LOG_LEVEL, base: { service: 'user-rpc', ...worker?.logFields } })
  if (tracesMissed(process.env) && !worker) {
    log.warn('OTEL_* variables ask for traces, but the OpenTelemetry SDK was not loaded: start the service with node --import ./dist/telemetry.js dist/server.js (npm start and the image do)')
  }
  const started = performance.now()

  // Set when serving cannot go on (the embedded PostgreSQL lost for good, a crash loop of
  // workers): the close then ends in exit 1.
  let fatal: Error | undefined
  let databaseLost: Error | undefined
  const stopBecause = (error: Error) => {
    if (closing) return
    fatal = error
    grace.close()
  }
  const serving = runsWorkers(config) ? workerGroup(config, log, stopBecause) : appOnPort(config, log, worker)
  let database: ResolvedDatabase | undefined
  let closing = false

  // Installed first, so a signal during start-up still stops an embedded PostgreSQL.
  const grace = closeWithGrace({ delay: config.SHUTDOWN_GRACE_MS + serving.stopMs, logger: log, ...(worker ? { skip: worker.skipSignals } : {}) }, async ({ signal, err }) => {
    closing = true
    if (err) log.error({ err }, 'closing after an unexpected error')
    else log.info({ signal, databaseLost: databaseLost?.message, ...serving.shutdownFields() }, serving.shutdownLine)
    await serving.close()
    // Every answered call's spans have ended now; they leave before close-with-grace exits.
    await flushTraces(log)
    await database?.stop()
    // close-with-grace exits 1 when this throws.
    if (fatal) throw fatal
    log.info('shut down cleanly')
  })
  worker?.onShutdown(grace.close)

  try {
    database = await resolveDatabase(config, log, (error) => { databaseLost = error; stopBecause(error) })
    await serving.start(database.url)
  } catch (error) {
    // A signal during start-up: the graceful close owns the exit.
    if (closing) return
    grace.uninstall()
    log.fatal({ err: error }, 'user-rpc could not start')
    await serving.close()
    await database?.stop()
    process.exit(1)
  }
  // Said by the process that owns the port: a group's workers leave it to their primary.
  if (config.API_KEYS.length === 0 && !worker) {
    log.warn('NO API KEYS CONFIGURED: anyone who can reach this service may read and write users. Set API_KEYS (see README) before exposing it.')
  }
  log.info({ ...serving.readyFields, startupMs: Math.round(performance.now() - started) }, 'user-rpc ready')
}

function configOrExit (): Config {
  try {
    return loadConfig()
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`user-rpc: ${error.message}\n`)
      process.exit(1)
    }
    throw error
  }
}

/** The app on HOST:PORT: a lone process, or one worker of a group. */
function appOnPort (config: Config, log: Logger, worker: WorkerRole | undefined): Serving {
  let app: Awaited<ReturnType<typeof buildApp>> | undefined
  return {
    start: async (databaseUrl) => {
      app = await buildApp({ config, databaseUrl, logger: log, ...(worker ? { shareMetrics: worker.shareMetrics } : {}) })
      await app.listen({ host: config.HOST, port: config.PORT })
    },
    close: async () => { await app?.close() },
    stopMs: 0,
    shutdownLine: 'shutting down: draining calls in flight',
    shutdownFields: () => ({}),
    readyFields: {},
  }
}

await main()
