import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import Fastify, { LogController, type FastifyBaseLogger } from 'fastify'
import type { Registry } from 'prom-client'
import type { Config } from './config.js'
import databasePlugin from './db/database-plugin.js'
import { projectRoot } from './paths.js'
import { apiKeys } from './plugins/api-keys.js'
import { consistency } from './plugins/consistency.js'
import { health } from './plugins/health.js'
import { idempotencyExpiry } from './plugins/idempotency-expiry.js'
import { idempotencyKeyHeader } from './plugins/idempotency-key.js'
import { metrics, type MetricsRenderer } from './plugins/metrics.js'
import { rateLimits } from './plugins/rate-limits.js'
import { answerClientError, answerError } from './rpc/http-errors.js'
import { rpcRoute } from './rpc/http-route.js'
import { buildOpenRpcDocument } from './rpc/openrpc.js'
import { createRpcServer } from './rpc/rpc-server.js'
import { userMethods } from './users/user-methods.js'
import { xmlRpcRoute } from './xmlrpc/xmlrpc-route.js'

/** Every model's methods; a second model adds its table here. */
export const methods = { ...userMethods }

export interface AppOptions {
  config: Config
  databaseUrl: string
  /** A pino logger; none means silent (tests). */
  logger?: FastifyBaseLogger
  /**
   * Lets GET /metrics answer for more than this process: given this app's registry, returns
   * what renders the text. Unset: this app's registry alone.
   */
  shareMetrics?: (registry: Registry) => MetricsRenderer
}

const REQUEST_ID = /^[\w.:@-]{1,128}$/

const packageVersion = (): string =>
  (JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { version: string }).version

/**
 * Builds the whole service without listening: tests inject requests into it, server.ts
 * binds it to a port.
 */
export async function buildApp ({ config, databaseUrl, logger, shareMetrics }: AppOptions) {
  const app = Fastify({
    ...(logger ? { loggerInstance: logger } : { logger: false }),
    // One log line per RPC call (rpc-server.ts) says more than two per HTTP request.
    logController: new LogController({ disableRequestLogging: true }),
    // A caller's X-Request-Id is kept when it is sane, so logs line up across services.
    requestIdHeader: false,
    genReqId: (request) => {
      const given = request.headers['x-request-id']
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
    },
    trustProxy: config.TRUST_PROXY,
    bodyLimit: config.RPC_BODY_LIMIT_BYTES,
    requestTimeout: config.REQUEST_TIMEOUT_MS,
    http: {
      // Node checks these deadlines only every connectionsCheckingInterval (30 s by default),
      // and when headersTimeout (60 s by default) is the longer one it swaps the two, so the
      // body of a slow client had max(REQUEST_TIMEOUT_MS, 60 s) plus up to 30 s. The whole
      // request, headers included, now has REQUEST_TIMEOUT_MS, checked every second.
      headersTimeout: config.REQUEST_TIMEOUT_MS,
      requestTimeout: config.REQUEST_TIMEOUT_MS,
      connectionsCheckingInterval: 1000,
    },
    // A request that cannot be read reaches no route: answered apart, with a JSON-RPC body.
    clientErrorHandler: answerClientError,
    // A socket with no traffic at all for this long is closed.
    connectionTimeout: config.CONNECTION_TIMEOUT_MS,
    // Longer than a load balancer's idle timeout, so the balancer closes first.
    keepAliveTimeout: config.KEEP_ALIVE_TIMEOUT_MS,
    // Stop accepting on close, but let open keep-alive sockets finish their calls.
    forceCloseConnections: 'idle',
    // A request still arriving on an open socket during the drain (its bytes were on the way
    // when the signal came) is served like any call in flight, its answer carrying
    // Connection: close; Fastify's default would answer it 503 with a body that is not
    // JSON-RPC. The drain stays bounded: each socket takes one more call at most.
    return503OnClosing: false,
  })

  // The one error handler, first: a route keeps the handler in force when it is added.
  app.setErrorHandler(answerError)

  // Once closing, answers still in flight ask the client to hang up, so a keep-alive
  // socket does not hold the drain open until the grace period ends.
  let closing = false
  app.addHook('preClose', async () => { closing = true })
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id)
    if (closing) reply.header('connection', 'close')
  })

  await app.register(databasePlugin, { config, url: databaseUrl })
  await app.register(metrics, { token: config.METRICS_TOKEN, shareMetrics })
  await app.register(health, { timeoutMs: config.READINESS_TIMEOUT_MS })

  const document = buildOpenRpcDocument(methods, {
    title: 'user-rpc',
    version: packageVersion(),
    description: 'User records over JSON-RPC 2.0. Every call runs in its own database transaction.',
  })
  const rpc = createRpcServer({
    methods,
    db: app.dbRouting.clientFor,
    transaction: {
      isolationLevel: config.TX_ISOLATION_LEVEL,
      timeoutMs: config.TX_TIMEOUT_MS,
      maxWaitMs: config.TX_MAX_WAIT_MS,
      maxRetries: config.TX_MAX_RETRIES,
    },
    batchMax: config.RPC_BATCH_MAX,
    batchConcurrency: config.RPC_BATCH_CONCURRENCY,
    maxInFlight: config.RPC_MAX_IN_FLIGHT,
    discover: () => document,
    observer: app.metrics.observer,
    idempotencyTtlMs: config.IDEMPOTENCY_TTL_HOURS * 3_600_000,
  })
  // Runs before the database plugin's onClose (hooks close in reverse order): a call whose
  // client has gone still finishes before the pool it needs is ended.
  app.addHook('onClose', async () => { await rpc.drain() })
  await app.register(idempotencyExpiry, { ttlHours: config.IDEMPOTENCY_TTL_HOURS })

  // Keys and rate limits guard /rpc (and the XML-RPC bridge, when on); health and metrics stay cheap and open.
  await app.register(async (scope) => {
    await scope.register(rateLimits, {
      windowMs: config.RATE_LIMIT_WINDOW_MS,
      perIp: config.RATE_LIMIT_PER_IP,
      perKey: config.RATE_LIMIT_PER_KEY,
    })
    await scope.register(apiKeys, { keys: config.API_KEYS })
    await scope.register(consistency)
    await scope.register(idempotencyKeyHeader)
    await scope.register(rpcRoute, { rpc, path: '/rpc', bodyLimit: config.RPC_BODY_LIMIT_BYTES })
    if (config.XMLRPC_PATH) await scope.register(xmlRpcRoute, { rpc, path: config.XMLRPC_PATH, bodyLimit: config.RPC_BODY_LIMIT_BYTES })
  })

  app.setNotFoundHandler((request, reply) => reply.code(404).send({ error: 'Not Found' }))

  return app
}
