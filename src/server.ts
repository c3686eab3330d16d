import closeWithGrace from 'close-with-grace'
import { pino } from 'pino'
import { buildApp } from './app.js'
import { runPrimary, runsWorkers, workerRole } from './cluster.js'
import { ConfigError, loadConfig, type Config } from './config.js'
import { resolveDatabase, type ResolvedDatabase } from './db/resolve-database.js'
import { flushTraces, tracesMissed } from './tracing/flush-traces.js'

/**
 * The process: configuration → database → app → listen, and a graceful close on
 * SIGTERM/SIGINT (stop accepting, let calls in flight finish, close the pool, stop the
 * embedded database, exit 0; a second signal or the grace period's end forces the exit).
 * With WORKERS > 1 this process is the primary of a cluster instead (src/cluster.ts), and
 * each worker it forks runs this same path.
 */
async function main () {
  let config: Config
  try {
    config = loadConfig()
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`user-rpc: ${error.message}\n`)
      process.exit(1)
    }
    throw error
  }

  const worker = workerRole()
  const log = pino({ level: config.LOG_LEVEL, base: { service: 'user-rpc', ...worker?.logFields } })
  if (tracesMissed(process.env) && !worker) {
    log.warn('OTEL_* variables ask for traces, but the OpenTelemetry SDK was not loaded: start the service with node --import ./dist/telemetry.js dist/server.js (npm start and the image do)')
  }
  if (runsWorkers(config)) {
    await runPrimary(config, log)
    return
  }

  const started = performance.now()
  let database: ResolvedDatabase | undefined
  let app: Awaited<ReturnType<typeof buildApp>> | undefined

  // Set when the embedded PostgreSQL cannot be restarted: the close then ends in exit 1.
  let databaseLost: Error | undefined

  // Installed first, so a signal during start-up still stops an embedded PostgreSQL.
  const grace = closeWithGrace({ delay: config.SHUTDOWN_GRACE_MS, logger: log, ...(worker ? { skip: worker.skipSignals } : {}) }, async ({ signal, err }) => {
    if (err) log.error({ err }, 'closing after an unexpected error')
    else log.info({ signal, databaseLost: databaseLost?.message }, 'shutting down: draining calls in flight')
    await app?.close()
    // Every answered call's spans have ended now; they leave before close-with-grace exits.
    await flushTraces(log)
    await database?.stop()
    // close-with-grace exits 1 when this throws.
    if (databaseLost) throw databaseLost
    log.info('shut down cleanly')
  })
  worker?.onShutdown(grace.close)

  try {
    database = await resolveDatabase(config, log, (error) => { databaseLost = error; grace.close() })
    app = await buildApp({ config, databaseUrl: database.url, logger: log, ...(worker ? { shareMetrics: worker.shareMetrics } : {}) })
    // A cluster's primary says it once for all its workers.
    if (config.API_KEYS.length === 0 && !worker) {
      log.warn('NO API KEYS CONFIGURED: anyone who can reach this service may read and write users. Set API_KEYS (see README) before exposing it.')
    }
    await app.listen({ host: config.HOST, port: config.PORT })
  } catch (error) {
    log.fatal({ err: error }, 'user-rpc could not start')
    await app?.close()
    await database?.stop()
    process.exit(1)
  }
  log.info({ startupMs: Math.round(performance.now() - started) }, 'user-rpc ready')
}

await main()
