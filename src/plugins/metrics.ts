import bearerAuth from '@fastify/bearer-auth'
import type { FastifyInstance } from 'fastify'
import type pg from 'pg'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { RpcObserver } from '../rpc/rpc-server.js'

/**
 * Prometheus metrics, one registry per app (tests build many apps in one process):
 * calls by method, outcome and transport, call latency, transaction retries, pool usage and the
 * process metrics prom-client collects by default.
 */
export function createMetrics (pool: pg.Pool) {
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

  const observer: RpcObserver = {
    onCall: (method, outcome, seconds, transport) => {
      calls.inc({ method, outcome: String(outcome), transport })
      if (seconds > 0) latency.observe({ method, transport }, seconds)
    },
    onRetry: (method) => retries.inc({ method }),
  }
  return { registry, observer, poolGauge }
}

export type Metrics = ReturnType<typeof createMetrics>

/** GET /metrics; with a token set, only `Authorization: Bearer <token>` may scrape. */
export async function registerMetricsRoute (app: FastifyInstance, metrics: Metrics, token: string) {
  // A scope of its own, so the token guards /metrics and nothing else.
  await app.register(async (scope) => {
    if (token) await scope.register(bearerAuth, { keys: [token], errorResponse: () => ({ error: 'Unauthorized' }), verifyErrorLogLevel: 'warn' })
    scope.get('/metrics', async (_request, reply) =>
      reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()))
  })
}
