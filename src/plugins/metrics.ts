import bearerAuth from '@fastify/bearer-auth'
import fp from 'fastify-plugin'
import type pg from 'pg'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { ReadRouting } from '../db/read-routing.js'
import type { RpcObserver } from '../rpc/rpc-server.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** This app's registry, and the observer the RPC server reports calls and retries to. */
    metrics: Metrics
  }
}

/**
 * Prometheus metrics, one registry per app (tests build many apps in one process):
 * calls by method, outcome and transport, call latency, transaction retries, pool usage and the
 * process metrics prom-client collects by default; with replicas, where reads went.
 */
function createMetrics (pool: pg.Pool, routing?: ReadRouting) {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })

  const calls = new Counter({
    name: 'rpc_calls_total',
    help: 'RPC calls by method, outcome (ok or the error code) and transport (jsonrpc or xmlrpc)',
    labelNames: ['method', 'outcome', 'transport'] as const,
    registers: [registry],
  })
  const latency = new Histogram({
    name: 'rpc_call_duration_seconds',
    help: 'RPC call latency, transaction included, by method and transport',
    labelNames: ['method', 'transport'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  })
  const retries = new Counter({
    name: 'rpc_transaction_retries_total',
    help: 'Transactions re-run after a serialization failure or deadlock',
    labelNames: ['method'] as const,
    registers: [registry],
  })
  // Read at scrape time, so the numbers are the pool's own, never a stale copy.
  const poolGauge = new Gauge({
    name: 'db_pool_connections',
    help: 'Database pool connections: total, idle, and callers waiting for one',
    labelNames: ['state'] as const,
    registers: [registry],
    collect () {
      this.set({ state: 'total' }, pool.totalCount)
      this.set({ state: 'idle' }, pool.idleCount)
      this.set({ state: 'waiting' }, pool.waitingCount)
    },
  })

  if (routing && routing.replicaStats().length > 0) registerReplicaMetrics(registry, routing)

  const observer: RpcObserver = {
    onCall: (method, outcome, seconds, transport) => {
      calls.inc({ method, outcome: String(outcome), transport })
      if (seconds > 0) latency.observe({ method, transport }, seconds)
    },
    onRetry: (method) => retries.inc({ method }),
  }
  return { registry, observer, poolGauge }
}

/**
 * The read routing's own counts, read at scrape time. Aggregated over cluster workers,
 * counters and pools add up; `db_replica_up` takes the lowest, so it is 0 while any worker
 * reads from the primary in a replica's place.
 */
function registerReplicaMetrics (registry: Registry, routing: ReadRouting) {
  const registers = [registry]
  /* eslint-disable no-new -- each registers itself, and reads the routing when scraped */
  new Gauge({
    name: 'db_replica_up',
    help: 'Whether reads go to this replica (1), or it failed and its reads go to the primary (0)',
    labelNames: ['replica'] as const,
    aggregator: 'min',
    registers,
    collect () {
      for (const stats of routing.replicaStats()) this.set({ replica: stats.name }, stats.up ? 1 : 0)
    },
  })
  new Counter({
    name: 'db_replica_reads_total',
    help: 'Read transactions committed on this replica',
    labelNames: ['replica'] as const,
    registers,
    collect () {
      this.reset()
      for (const stats of routing.replicaStats()) this.inc({ replica: stats.name }, stats.reads)
    },
  })
  new Counter({
    name: 'db_replica_fallbacks_total',
    help: 'Reads run on the primary because no replica could serve them',
    registers,
    collect () {
      this.reset()
      this.inc(routing.fallbacks)
    },
  })
  new Gauge({
    name: 'db_replica_pool_connections',
    help: 'Replica pool connections: total, idle, and callers waiting for one',
    labelNames: ['replica', 'state'] as const,
    registers,
    collect () {
      for (const { name, pool } of routing.replicaStats()) {
        this.set({ replica: name, state: 'total' }, pool.totalCount)
        this.set({ replica: name, state: 'idle' }, pool.idleCount)
        this.set({ replica: name, state: 'waiting' }, pool.waitingCount)
      }
    },
  })
  /* eslint-enable no-new */
}

export type Metrics = ReturnType<typeof createMetrics>

/** Renders the text GET /metrics answers with; by default this process's registry alone. */
export type MetricsRenderer = () => Promise<string>

export interface MetricsOptions {
  /** METRICS_TOKEN: when set, only `Authorization: Bearer <token>` may scrape. */
  token: string
  /**
   * Lets GET /metrics answer for more than this process: given this app's registry, returns
   * what renders the text. Unset: this app's registry alone.
   */
  shareMetrics?: ((registry: Registry) => MetricsRenderer) | undefined
}

/**
 * The app's metrics (`app.metrics`) over its database pools, and GET /metrics. The registry
 * is the app's own and is emptied when the app closes.
 */
export const metrics = fp<MetricsOptions>(async (app, { token, shareMetrics }) => {
  const own = createMetrics(app.dbPool, app.dbRouting)
  const render: MetricsRenderer = shareMetrics?.(own.registry) ?? (() => own.registry.metrics())
  app.decorate('metrics', own)
  // A scope of its own, so the token guards /metrics and nothing else.
  await app.register(async (scope) => {
    if (token) await scope.register(bearerAuth, { keys: [token], errorResponse: () => ({ error: 'Unauthorized' }), verifyErrorLogLevel: 'warn' })
    scope.get('/metrics', async (_request, reply) =>
      reply.type(own.registry.contentType).send(await render()))
  })
  app.addHook('onClose', async () => { own.registry.clear() })
}, { name: 'metrics', dependencies: ['database'] })
