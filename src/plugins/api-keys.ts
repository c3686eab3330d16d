import { createHash, timingSafeEqual } from 'node:crypto'
import bearerAuth from '@fastify/bearer-auth'
import fp from 'fastify-plugin'
import type { ApiKeySpec } from '../config.js'
import { ErrorCode, HttpRpcError } from '../rpc/errors.js'
import type { Caller } from '../rpc/method.js'

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller
  }
}

/** Development mode: no keys configured, every caller may read and write. */
const OPEN_ACCESS: Caller = { keyId: null, scope: 'write' }

const digest = (text: string) => createHash('sha256').update(text).digest()

/**
 * Finds the key a caller presented. Digests have one length, so timingSafeEqual applies,
 * and every configured key is compared (no early exit) so timing does not reveal which
 * key, or how much of one, matched.
 */
export function createKeyring (keys: ApiKeySpec[]) {
  const stored = keys.map((key) => ({ caller: { keyId: key.id, scope: key.scope } satisfies Caller, digest: digest(key.secret) }))
  return (presented: string): Caller | undefined => {
    const candidate = digest(presented)
    let found: Caller | undefined
    for (const key of stored) {
      if (timingSafeEqual(key.digest, candidate) && !found) found = key.caller
    }
    return found
  }
}

export interface ApiKeysOptions {
  keys: ApiKeySpec[]
}

/**
 * bearer-auth's 401s (no header, not Bearer, no such key) become -32001, which the error
 * handler answers in the route's protocol; any other failure stays one (a 500).
 */
const refusal = (error: Error & { statusCode?: number }) => error.statusCode === 401
  ? new HttpRpcError(401, ErrorCode.Unauthorized, 'Unauthorized: send Authorization: Bearer <API key>')
  : error

/**
 * Bearer API keys on the routes registered after this in the same scope: a missing or
 * unknown key is HTTP 401 with -32001 (a JSON-RPC error body, or an XML-RPC fault on the
 * bridge). Which methods a key may call is decided per call (a read-only key gets -32003 for
 * a write), in rpc-server.ts. Sets `request.caller`, which the RPC routes read.
 *
 * @fastify/bearer-auth reads the header and checks it, but does not answer: its own hook
 * would write the 401 itself, in one format for every route.
 */
export const apiKeys = fp<ApiKeysOptions>(async (app, { keys }) => {
  app.decorateRequest('caller', null as unknown as Caller)
  if (keys.length === 0) {
    app.addHook('onRequest', async (request) => { request.caller = OPEN_ACCESS })
    return
  }
  const lookup = createKeyring(keys)
  await app.register(bearerAuth, {
    keys: [],
    auth: (key, request) => {
      const caller = lookup(key)
      if (caller) request.caller = caller
      return caller !== undefined
    },
    specCompliance: 'rfc6749',
    verifyErrorLogLevel: 'info',
    addHook: false,
  })
  const verify = app.verifyBearerAuth
  if (verify === undefined) throw new Error('@fastify/bearer-auth did not provide verifyBearerAuth')
  app.addHook('onRequest', (request, reply, done) => {
    verify(request, reply, (error) => { done(error && refusal(error)) })
  })
}, { name: 'api-keys' })
