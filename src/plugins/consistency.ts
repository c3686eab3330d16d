import fp from 'fastify-plugin'
import { ErrorCode, HttpRpcError } from '../rpc/errors.js'
import type { Consistency } from '../rpc/transaction.js'

declare module 'fastify' {
  interface FastifyRequest {
    consistency: Consistency
  }
}

const HEADER = 'x-consistency'

/**
 * `X-Consistency: strong` on a request sends its reads to the primary, so they see every
 * write committed before it (read-your-writes); `eventual`, or no header, lets a replica
 * serve them (docs/scaling.md, "Read replicas"). Accepted with or without replicas, so callers need
 * not know the deployment. Any other value is HTTP 400 with a -32600 body: a typo must not
 * quietly read stale data.
 */
export const consistency = fp(async (app) => {
  app.decorateRequest('consistency', 'eventual')
  app.addHook('onRequest', async (request) => {
    const given = request.headers[HEADER]
    if (given === undefined) return
    const value = String(given).trim().toLowerCase()
    if (value !== 'strong' && value !== 'eventual') {
      throw new HttpRpcError(400, ErrorCode.InvalidRequest, 'Invalid Request', { reason: 'X-Consistency must be strong or eventual' })
    }
    request.consistency = value
  })
}, { name: 'consistency' })
