import fp from 'fastify-plugin'
import { parseItem } from 'structured-headers'
import { ErrorCode, HttpRpcError } from '../rpc/errors.js'
import { idempotencyKeySchema } from '../rpc/idempotency.js'

declare module 'fastify' {
  interface FastifyRequest {
    idempotencyKey: string | undefined
  }
}

const HEADER = 'idempotency-key'

const refuse = (reason: string) => new HttpRpcError(400, ErrorCode.InvalidRequest, 'Invalid Request', { reason })

/**
 * The `Idempotency-Key` header, for a single call: the same key as the `idempotencyKey` param,
 * and the only way to give one to a legacy method (create_user), on JSON-RPC and XML-RPC alike.
 * The IETF draft (draft-ietf-httpapi-idempotency-key-header) sends it as a quoted Structured
 * Field string; callers written for Stripe send it bare; both mean the same key. A key the
 * service could not store exactly is HTTP 400 with a -32600 body, so that a caller who meant to
 * retry safely is never quietly left without a key.
 */
export const idempotencyKeyHeader = fp(async (app) => {
  app.decorateRequest('idempotencyKey', undefined)
  app.addHook('onRequest', async (request) => {
    const given = request.headers[HEADER]
    if (given === undefined) return
    const text = String(given).trim()
    const key = text.startsWith('"') ? unquote(text) : text
    const checked = idempotencyKeySchema.safeParse(key)
    if (!checked.success) throw refuse(`Idempotency-Key: ${checked.error.issues[0]?.message ?? 'invalid'}`)
    request.idempotencyKey = checked.data
  })
}, { name: 'idempotency-key-header' })

/** A quoted Structured Field string's text; anything else quoted is refused. */
function unquote (text: string): string {
  let item
  try {
    item = parseItem(text)
  } catch {
    throw refuse('Idempotency-Key: a quoted key must be a Structured Field string ("…" with \\" and \\\\ escapes)')
  }
  if (typeof item[0] !== 'string') throw refuse('Idempotency-Key: a quoted key must be a string')
  return item[0]
}
