import type { Span } from '@opentelemetry/api'
import type { FastifyBaseLogger } from 'fastify'
import {
  JSONRPCServer,
  type JSONRPCError,
  type JSONRPCRequest,
  type JSONRPCResponse,
  type JSONRPCServerMiddleware,
} from 'json-rpc-2.0'
import pLimit from 'p-limit'
import { describeError, isUnavailable, operatorFix } from '../db/database-errors.js'
import type { Prisma } from '../generated/prisma/client.js'
import { endCallSpan, startCallSpan, UNKNOWN_METHOD, withinCallSpan } from './call-span.js'
import { ErrorCode, internalError, invalidRequest, RpcError, unavailable } from './errors.js'
import { answerOnce, IDEMPOTENCY_KEY_PARAM } from './idempotency.js'
import type { Access, AnyMethodDefinition, Caller, MethodContext, MethodTable } from './method.js'
import { parseParams } from './params.js'
import { checkEnvelope } from './protocol.js'
import { runInTransaction, type ClientFor, type Consistency, type TransactionalClient, type TransactionSettings } from './transaction.js'

/** The encoding a call arrived in: JSON-RPC on /rpc, or the XML-RPC bridge (src/xmlrpc/). */
export type Transport = 'jsonrpc' | 'xmlrpc'

/** What the HTTP layer knows about the caller of one request. */
export interface RequestScope {
  log: FastifyBaseLogger
  caller: Caller
  /** Unset means JSON-RPC, the service's own protocol; labels metrics and the call's log line. */
  transport?: Transport
  /** Unset means `eventual`: reads may be served by a replica (the X-Consistency header). */
  consistency?: Consistency
  /** The Idempotency-Key header, already checked; it applies to a single call, never a batch. */
  idempotencyKey?: string | undefined
}

interface CallParams extends RequestScope {
  tx?: Prisma.TransactionClient
}

/** The outcome of one call: 'ok' or the error code sent back. */
export type Outcome = 'ok' | number

export interface RpcObserver {
  onCall?: (method: string, outcome: Outcome, seconds: number, transport: Transport) => void
  onRetry?: (method: string) => void
}

export interface RpcServerOptions {
  methods: MethodTable
  /**
   * Where each call's transaction runs: one database for every call (a PrismaClient), or
   * src/db's `clientFor`, which picks the primary or a replica per call.
   */
  db: TransactionalClient | ClientFor
  transaction: TransactionSettings
  batchMax: number
  batchConcurrency: number
  maxInFlight: number
  /** Builds the OpenRPC document served by rpc.discover. */
  discover: () => unknown
  /** How long an idempotency key answers repeats of its call (IDEMPOTENCY_TTL_HOURS). */
  idempotencyTtlMs: number
  observer?: RpcObserver
}

/** Marker for a body that was not valid JSON (the HTTP layer parses it). */
export const PARSE_FAILED = Symbol('parse failed')

export type RpcReply = JSONRPCResponse | JSONRPCResponse[] | null

const DISCOVER = 'rpc.discover'

const transportOf = (scope: RequestScope): Transport => scope.transport ?? 'jsonrpc'

/**
 * The protocol engine: validates envelopes, runs batches with bounded concurrency, and runs
 * each call through json-rpc-2.0 with three middlewares — the call boundary (outcome, log,
 * metrics, error mapping), access and params checks, and the transaction.
 */
export function createRpcServer (options: RpcServerOptions) {
  const { methods, observer } = options
  for (const name of Object.keys(methods)) {
    if (name.startsWith('rpc.')) throw new Error(`method names starting with "rpc." are reserved: ${name}`)
    checkIdempotency(name, methods[name] as AnyMethodDefinition)
  }
  // Own keys only: "toString" or "__proto__" must not find Object.prototype members.
  const definitionOf = (name: string): AnyMethodDefinition | undefined => Object.hasOwn(methods, name) ? methods[name] : undefined
  const accessOf = (name: string): Access | undefined => name === DISCOVER ? 'read' : definitionOf(name)?.access
  const { db } = options
  const clientFor: ClientFor = typeof db === 'function' ? db : () => db

  const server = new JSONRPCServer<CallParams>({ errorListener: () => {} })
  for (const [name, definition] of Object.entries(methods)) {
    server.addMethod(name, async (params: unknown, call) => {
      if (!call.tx) throw new Error(`${name} ran outside a transaction`)
      const context: MethodContext = { tx: call.tx, log: call.log, caller: call.caller }
      const result = definition.idempotent
        ? await runIdempotent(name, definition, params as Record<string, unknown>, call.idempotencyKey, context)
        : await definition.handler(params as Record<string, unknown>, context)
      // A response must carry `result`; JSON drops undefined members.
      return result === undefined ? null : result
    })
  }
  server.addMethod(DISCOVER, () => options.discover())

  /**
   * An idempotent method's call: with a key (the param wins over the header), the first
   * answer for that key and caller, or -32012 for another call under it; without one, a
   * plain call. The key is never among the params the handler gets or the digest covers.
   */
  async function runIdempotent (name: string, definition: AnyMethodDefinition, params: Record<string, unknown>, headerKey: string | undefined, context: MethodContext) {
    let rest = params
    let key = headerKey
    if (Object.hasOwn(params, IDEMPOTENCY_KEY_PARAM)) {
      const { [IDEMPOTENCY_KEY_PARAM]: given, ...others } = params
      rest = others
      if (given !== undefined) key = given as string
    }
    if (key === undefined) return await definition.handler(rest, context)
    const keyed = { caller: context.caller.keyId ?? '', key, method: name, params: rest }
    return await answerOnce(context.tx, keyed, options.idempotencyTtlMs, () => definition.handler(rest, context))
  }
  // Fallback only: the boundary middleware maps every error before the library sees it.
  server.mapErrorToJSONRPCErrorResponse = (id) => internalError().toResponse(id)

  const boundary: JSONRPCServerMiddleware<CallParams> = (next, request, call) => {
    const span = startCallSpan(accessOf(request.method) ? request.method : UNKNOWN_METHOD, request.id, transportOf(call))
    // Inside the span, so the transaction's spans nest below it and the call's log lines carry its ids.
    return withinCallSpan(span, observeCall, next, request, call, span)
  }

  async function observeCall (next: Parameters<JSONRPCServerMiddleware<CallParams>>[0], request: JSONRPCRequest, call: CallParams, span: Span) {
    const started = process.hrtime.bigint()
    const label = accessOf(request.method) ? request.method : 'unknown'
    let response: JSONRPCResponse | null
    let sent: JSONRPCError | undefined
    try {
      response = await next(request, call)
      sent = response?.error
    } catch (error) {
      const rpcError = toRpcError(error, call.log, label)
      sent = rpcError
      response = request.id === undefined ? null : rpcError.toResponse(request.id)
    }
    const outcome: Outcome = sent ? sent.code : 'ok'
    endCallSpan(span, sent)
    const seconds = Number(process.hrtime.bigint() - started) / 1e9
    const transport = transportOf(call)
    observer?.onCall?.(label, outcome, seconds, transport)
    call.log.info({ rpcMethod: label, outcome, durationMs: Math.round(seconds * 1e6) / 1e3, notification: request.id === undefined, transport, keyId: call.caller.keyId }, 'rpc call')
    return response
  }

  const accessAndParams: JSONRPCServerMiddleware<CallParams> = async (next, request, call) => {
    const required = accessOf(request.method)
    if (required === 'write' && call.caller.scope !== 'write') {
      throw new RpcError(ErrorCode.Forbidden, 'Forbidden: this API key is read-only')
    }
    const definition = definitionOf(request.method)
    if (!definition) return await next(request, call)
    return await next({ ...request, params: parseParams(definition, request.params) }, call)
  }

  const transaction: JSONRPCServerMiddleware<CallParams> = async (next, request, call) => {
    const definition = definitionOf(request.method)
    if (!definition) return await next(request, call)
    return await runInTransaction(
      clientFor(definition.access, call.consistency ?? 'eventual'),
      options.transaction,
      (tx) => Promise.resolve(next(request, { ...call, tx })),
      { onRetry: () => observer?.onRetry?.(request.method) }
    )
  }

  server.applyMiddleware(boundary, accessAndParams, transaction)

  let inFlight = 0
  // Bodies being answered, queued batch members included: what a drain waits for.
  let active = 0
  let drained: Array<() => void> = []

  async function handleOne (item: unknown, scope: RequestScope): Promise<JSONRPCResponse | null> {
    const envelope = checkEnvelope(item)
    if (!envelope.valid) {
      observer?.onCall?.('invalid', ErrorCode.InvalidRequest, 0, transportOf(scope))
      return invalidRequest(envelope.reason).toResponse(envelope.id)
    }
    const { request } = envelope
    if (inFlight >= options.maxInFlight) {
      observer?.onCall?.('overloaded', ErrorCode.Unavailable, 0, transportOf(scope))
      return request.id === undefined ? null : unavailable('Server overloaded').toResponse(request.id)
    }
    inFlight++
    try {
      return await server.receive(request as JSONRPCRequest, scope)
    } finally {
      inFlight--
    }
  }

  /** Answers one HTTP body: a request, a batch, or PARSE_FAILED. null means "send nothing". */
  async function handle (payload: unknown, scope: RequestScope): Promise<RpcReply> {
    active++
    try {
      return await answer(payload, scope)
    } finally {
      active--
      if (active === 0) {
        for (const resolve of drained) resolve()
        drained = []
      }
    }
  }

  async function answer (payload: unknown, scope: RequestScope): Promise<RpcReply> {
    if (payload === PARSE_FAILED) {
      return new RpcError(ErrorCode.ParseError, 'Parse error').toResponse(null)
    }
    if (!Array.isArray(payload)) return await handleOne(payload, scope)
    if (payload.length === 0) return invalidRequest('an empty batch').toResponse(null)
    if (scope.idempotencyKey !== undefined) {
      return invalidRequest('the Idempotency-Key header applies to a single call; give each call of a batch its own idempotencyKey param').toResponse(null)
    }
    if (payload.length > options.batchMax) {
      return invalidRequest(`a batch of ${payload.length} requests is over the limit of ${options.batchMax}`).toResponse(null)
    }
    // A fresh limiter per batch: one batch takes at most batchConcurrency pool connections.
    const limit = pLimit(options.batchConcurrency)
    const replies = await Promise.all(payload.map((item) => limit(() => handleOne(item, scope))))
    const answered = replies.filter((reply): reply is JSONRPCResponse => reply !== null)
    return answered.length > 0 ? answered : null
  }

  /** Resolves once every body being answered is done, even if its client has gone. */
  function drain (): Promise<void> {
    return active === 0 ? Promise.resolve() : new Promise((resolve) => drained.push(resolve))
  }

  return { handle, drain, get inFlight () { return inFlight } }
}

export type RpcServer = ReturnType<typeof createRpcServer>

/** A method that takes a key must be a write marked idempotent, so no key is silently ignored. */
function checkIdempotency (name: string, definition: AnyMethodDefinition) {
  const takesKey = Object.hasOwn(definition.params.shape, IDEMPOTENCY_KEY_PARAM)
  if (takesKey && !definition.idempotent) throw new Error(`${name} takes ${IDEMPOTENCY_KEY_PARAM} but is not marked idempotent`)
  if (definition.idempotent && definition.access !== 'write') throw new Error(`${name} is marked idempotent but is not a write`)
}

/**
 * Maps any thrown error to what a client may see (the error model's one place): RpcErrors
 * as they are, a database that cannot serve, or one the operator must fix (operatorFix), as
 * -32011, the rest as -32603, logged whole.
 */
function toRpcError (error: unknown, log: FastifyBaseLogger, method: string): RpcError {
  if (error instanceof RpcError) return error
  const fix = operatorFix(error)
  if (fix !== undefined) {
    // Not a bug: the log says what the operator should change. Nothing was written.
    log.error({ rpcMethod: method, reason: fix.reason }, fix.remedy)
    return unavailable()
  }
  if (isUnavailable(error)) {
    // No stack: under overload every refused call says this, and the code says enough.
    log.warn({ rpcMethod: method, reason: describeError(error) }, 'database unavailable')
    return unavailable()
  }
  log.error({ err: error, rpcMethod: method }, 'rpc call failed')
  return internalError()
}
