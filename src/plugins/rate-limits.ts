import rateLimit from '@fastify/rate-limit'
import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { ErrorCode, HttpRpcError } from '../rpc/errors.js'

export interface RateLimitSettings {
  windowMs: number
  /** Requests per window from one client address, checked before the API key (0 = off). */
  perIp: number
  /** Requests per window for one API key, checked after it (0 = off). */
  perKey: number
}

/**
 * Two limits on the routes of this scope: per client address first, so guessing keys is
 * slow too, then per API key, so one noisy client cannot starve the others. Past either:
 * HTTP 429, Retry-After, and a JSON-RPC error body (-32029).
 *
 * The plugin's own `rateLimit()` hooks mark a request as checked after the first one, so
 * two limits on one request go through `createRateLimit()` and answer here.
 */
export const rateLimits = fp<RateLimitSettings>(async (app, settings) => {
  await app.register(rateLimit, { global: false })

  const limitBy = (max: number, keyOf: (request: FastifyRequest) => string) => {
    const check = app.createRateLimit({ max, timeWindow: settings.windowMs, keyGenerator: keyOf })
    return async (request: FastifyRequest, reply: FastifyReply) => {
      const verdict = await check(request)
      if (verdict.isAllowed || !verdict.isExceeded) return
      reply.header('retry-after', String(verdict.ttlInSeconds))
      throw new HttpRpcError(429, ErrorCode.RateLimited, 'Too many requests', { retryAfterSeconds: verdict.ttlInSeconds })
    }
  }

  if (settings.perIp > 0) app.addHook('onRequest', limitBy(settings.perIp, (request) => `ip:${request.ip}`))
  if (settings.perKey > 0) app.addHook('preHandler', limitBy(settings.perKey, (request) => `key:${request.caller.keyId ?? 'open'}`))
}, { name: 'rate-limits' })
