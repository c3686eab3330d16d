// @ts-check
/**
 * The JSON-RPC 2.0 route the two baselines (floor and ceiling) share: the same Fastify, the
 * same `POST /rpc`, the same envelope as the service (parse, check `jsonrpc`/`method`/`id`/
 * `params`, batches as arrays answered member by member, at most `batchConcurrency` members
 * of one batch at once, notifications unanswered) and nothing else: no logging, hooks,
 * metrics or keys. It imports nothing from src/ or dist/, so it measures the baseline and
 * not the service.
 */
import Fastify from 'fastify'
import pLimit from 'p-limit'

/** An error a method answers with, sent to the client as it is. */
export class MethodError extends Error {
  /** @param {number} code @param {string} message @param {unknown} [data] */
  constructor (code, message, data) {
    super(message)
    this.code = code
    this.data = data
  }
}

/** @typedef {(params: unknown) => Promise<unknown> | unknown} Method */
/** @typedef {string | number | null} RpcId */

/**
 * @typedef {object} BaselineOptions
 * @property {Record<string, Method>} methods
 * @property {number} batchMax
 * @property {number} batchConcurrency
 * @property {number} bodyLimit
 */

/** @param {RpcId} id @param {number} code @param {string} message @param {unknown} [data] */
const errorAnswer = (id, code, message, data) =>
  ({ jsonrpc: '2.0', id, error: data === undefined ? { code, message } : { code, message, data } })

/** @param {unknown} value @returns {value is RpcId} */
const isId = (value) => typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value)) || value === null

/** @param {BaselineOptions} options */
export function buildBaselineApp ({ methods, batchMax, batchConcurrency, bodyLimit }) {
  const app = Fastify({ logger: false, bodyLimit })

  /** @param {unknown} item */
  async function answerOne (item) {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) return errorAnswer(null, -32600, 'Invalid Request')
    const request = /** @type {Record<string, unknown>} */ (item)
    const hasId = Object.hasOwn(request, 'id')
    if (hasId && !isId(request.id)) return errorAnswer(null, -32600, 'Invalid Request')
    const id = hasId ? /** @type {RpcId} */ (request.id) : null
    if (request.jsonrpc !== '2.0' || typeof request.method !== 'string') return errorAnswer(id, -32600, 'Invalid Request')
    if (Object.hasOwn(request, 'params') && (typeof request.params !== 'object' || request.params === null)) {
      return errorAnswer(id, -32600, 'Invalid Request')
    }
    const method = Object.hasOwn(methods, request.method) ? methods[request.method] : undefined
    if (!method) return hasId ? errorAnswer(id, -32601, 'Method not found') : null
    try {
      const result = await method(request.params)
      return hasId ? { jsonrpc: '2.0', id, result } : null
    } catch (error) {
      if (!hasId) return null
      if (error instanceof MethodError) return errorAnswer(id, error.code, error.message, error.data)
      process.stderr.write(`baseline: ${request.method} failed: ${/** @type {Error} */ (error)?.stack ?? error}\n`)
      return errorAnswer(id, -32603, 'Internal error')
    }
  }

  /** @param {unknown} payload */
  async function answer (payload) {
    if (!Array.isArray(payload)) return await answerOne(payload)
    if (payload.length === 0 || payload.length > batchMax) return errorAnswer(null, -32600, 'Invalid Request')
    // A fresh limiter per batch, as the service does: one batch holds at most this many connections.
    const limit = pLimit(batchConcurrency)
    const answers = await Promise.all(payload.map((item) => limit(() => answerOne(item))))
    const sent = answers.filter((one) => one !== null)
    return sent.length > 0 ? sent : null
  }

  app.setErrorHandler((error, _request, reply) => {
    const status = /** @type {{ statusCode?: number }} */ (error).statusCode ?? 500
    // Fastify's JSON parser rejects bad JSON with a 400; JSON-RPC calls that a parse error.
    if (status === 400) return reply.code(200).type('application/json; charset=utf-8').send(errorAnswer(null, -32700, 'Parse error'))
    return reply.code(status).type('application/json; charset=utf-8').send(errorAnswer(null, status < 500 ? -32600 : -32603, 'Invalid Request'))
  })

  app.post('/rpc', async (request, reply) => {
    const outcome = await answer(request.body)
    if (outcome === null) return reply.code(204).send()
    return reply.code(200).type('application/json; charset=utf-8').send(outcome)
  })

  return app
}

/**
 * Runs a baseline as a child process of the benchmark: listens on 127.0.0.1 (port from
 * PORT, 0 for any free one), tells the parent the port over IPC, and closes on SIGTERM,
 * SIGINT or when the parent goes away.
 * @param {import('fastify').FastifyInstance} app
 * @param {() => Promise<void>} [onClose]  after the server has closed: release what it used
 */
export async function serveBaseline (app, onClose = async () => {}) {
  let closing = false
  const close = async () => {
    if (closing) return
    closing = true
    await app.close()
    await onClose()
    process.exit(0)
  }
  process.on('SIGTERM', close)
  process.on('SIGINT', close)
  process.on('disconnect', close)
  await app.listen({ host: process.env.HOST ?? '127.0.0.1', port: Number(process.env.PORT ?? 0) })
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  process.send?.({ type: 'listening', port })
}
