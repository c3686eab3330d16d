import { JSONRPCClient, type JSONRPCRequest, type JSONRPCResponse } from 'json-rpc-2.0'
import { keyedMethods, RETRYABLE_CODES, type UserRpcMethods } from './methods.js'

export type { LegacyUser, User, UserPage, UserRpcMethods } from './methods.js'
export { RETRYABLE_CODES } from './methods.js'

export type UserRpcMethod = keyof UserRpcMethods & string
export type UserRpcParams<M extends UserRpcMethod> = UserRpcMethods[M]['params']
export type UserRpcResult<M extends UserRpcMethod> = UserRpcMethods[M]['result']

/** Params may be left out when every one of them is optional (user.list). */
type ParamsArgument<M extends UserRpcMethod> = object extends UserRpcParams<M>
  ? [params?: UserRpcParams<M>]
  : [params: UserRpcParams<M>]

/** One call of a batch; `params` is checked against `method`. */
export type UserRpcCall = { [M in UserRpcMethod]: { method: M, params: UserRpcParams<M> } }[UserRpcMethod]

/** What became of one call of a batch: each runs (and commits or fails) on its own. */
export type UserRpcOutcome<M extends UserRpcMethod> =
  | { ok: true, result: UserRpcResult<M> }
  | { ok: false, error: UserRpcError }

/** The service answered with a JSON-RPC error: a code to branch on (README, Errors), and data. */
export class UserRpcError extends Error {
  override name = 'UserRpcError'
  constructor (message: string, readonly code: number, readonly data?: unknown) {
    super(message)
  }

  get retryable (): boolean {
    return RETRYABLE_CODES.includes(this.code)
  }
}

/**
 * No JSON-RPC answer came back: the time limit passed (`timeout`), the request never reached the
 * service or its answer was lost (`network`), or the HTTP answer carried no JSON-RPC body, as
 * from a proxy in between (`http`, with its status). Such a call may or may not have run, so it
 * is never retried here.
 */
export class UserRpcTransportError extends Error {
  override name = 'UserRpcTransportError'
  constructor (message: string, readonly kind: 'timeout' | 'network' | 'http', readonly status?: number, options?: { cause?: unknown }) {
    super(message, options)
  }
}

export interface RetryOptions {
  /** Tries in all, the first included; default 3. */
  attempts?: number
  /** Backoff before the second try; it doubles for each next one. Default 100 ms. */
  baseDelayMs?: number
  /** Longest backoff; default 2000 ms. */
  maxDelayMs?: number
}

export interface ClientOptions {
  /** The service's JSON-RPC endpoint, e.g. http://127.0.0.1:8000/rpc */
  url: string
  /** Sent as `Authorization: Bearer <apiKey>`. */
  apiKey?: string
  /**
   * Headers for every request, or a function that returns them for each request (a token that
   * changes, say). They win over `apiKey`, so `{ authorization: '…' }` sends any scheme.
   */
  headers?: Record<string, string> | (() => Record<string, string> | Promise<Record<string, string>>)
  /** Longest wait for each HTTP request's answer, in ms; the request is aborted then. Default 30 s. */
  timeoutMs?: number
  /**
   * Send a call again when the service answers a retryable code (RETRYABLE_CODES). Off by
   * default. When on, every write carries an idempotency key (yours, or one made for the call),
   * the same on each try: a try that ran although its answer said otherwise is not run twice.
   */
  retry?: boolean | RetryOptions
  /** Another fetch (a test double, a proxy agent); default: the global fetch. */
  fetch?: typeof fetch
}

/** Passed from each send to the transport: how to abort it, and where to leave its failure. */
interface SendContext {
  signal: AbortSignal
  failure?: UserRpcTransportError
}

const DEFAULT_RETRY: Required<RetryOptions> = { attempts: 3, baseDelayMs: 100, maxDelayMs: 2000 }

const isResponse = (value: unknown): value is JSONRPCResponse =>
  typeof value === 'object' && value !== null && (value as { jsonrpc?: unknown }).jsonrpc === '2.0'

/**
 * A typed client for user-rpc on json-rpc-2.0's: method names, params and results are checked
 * at compile time against types generated from the service's own method definitions.
 *
 * `call` resolves with the result or rejects with a UserRpcError (also for refusals before any
 * method ran: 401, 413, 429, whose JSON-RPC bodies carry `id: null`) or a UserRpcTransportError.
 * `batch` sends several calls in one request and reports each one's outcome.
 */
export function createUserRpcClient (options: ClientOptions) {
  const doFetch = options.fetch ?? globalThis.fetch
  const timeoutMs = options.timeoutMs ?? 30_000
  const retry = options.retry ? { ...DEFAULT_RETRY, ...(options.retry === true ? {} : options.retry) } : undefined

  const headersFor = async (): Promise<Record<string, string>> => ({
    'content-type': 'application/json',
    ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
    ...(typeof options.headers === 'function' ? await options.headers() : options.headers),
  })

  const rpc: JSONRPCClient<SendContext> = new JSONRPCClient<SendContext>(async (payload, context) => {
    try {
      await deliver(payload, context)
    } catch (error) {
      // json-rpc-2.0 turns a failed send into code-0 errors; the failure itself is kept here
      // so the caller gets it as it is.
      context.failure = error instanceof UserRpcTransportError ? error : new UserRpcTransportError((error as Error).message, 'network', undefined, { cause: error })
      throw error
    }
  })

  async function deliver (payload: JSONRPCRequest | JSONRPCRequest[], context: SendContext) {
    let response: Response
    try {
      response = await doFetch(options.url, { method: 'POST', headers: await headersFor(), body: JSON.stringify(payload), signal: context.signal })
    } catch (error) {
      if (context.signal.aborted) throw new UserRpcTransportError(`no answer within ${timeoutMs} ms`, 'timeout', undefined, { cause: error })
      throw new UserRpcTransportError(`request failed: ${(error as Error).message}`, 'network', undefined, { cause: error })
    }
    const requests = (Array.isArray(payload) ? payload : [payload]).filter((request) => request.id !== undefined && request.id !== null)
    const body: unknown = await response.json().catch(() => undefined)
    const answers = Array.isArray(body) ? body.filter(isResponse) : isResponse(body) ? [body] : []
    // A refusal before any method ran (401, 413, 429, a batch too big) is one error with id
    // null: it is every call's answer.
    const refusal = answers.length === 1 && answers[0]?.id === null && answers[0].error ? answers[0] : undefined
    if (refusal) {
      rpc.receive(requests.map((request) => ({ ...refusal, id: request.id as number })))
      return
    }
    rpc.receive(answers)
    const answered = new Set(answers.map((answer) => answer.id))
    if (requests.some((request) => !answered.has(request.id as number))) {
      throw new UserRpcTransportError(answers.length ? 'the answer lacks some of the calls sent' : `HTTP ${response.status} without a JSON-RPC answer`, 'http', response.status)
    }
  }

  /** One HTTP request for these calls; each call's JSON-RPC answer, in order. */
  async function send (calls: ReadonlyArray<{ method: string, params?: unknown }>): Promise<JSONRPCResponse[]> {
    const requests: JSONRPCRequest[] = calls.map((call) => ({
      jsonrpc: '2.0',
      method: call.method,
      ...(call.params === undefined ? {} : { params: call.params }),
      id: nextId(),
    }))
    const context: SendContext = { signal: AbortSignal.timeout(timeoutMs) }
    const answers = await rpc.requestAdvanced(requests, context)
    if (context.failure) throw context.failure
    return answers
  }

  /**
   * Runs `calls` as one batch, then sends again, alone, the calls answered with a retryable
   * code, with backoff, while tries are left. Each call is its own transaction on the service,
   * so the others' outcomes stand.
   */
  async function run (given: ReadonlyArray<{ method: string, params?: unknown }>): Promise<JSONRPCResponse[]> {
    const calls = retry ? given.map(withKey) : given
    const answers = await send(calls)
    const tries = retry?.attempts ?? 1
    for (let attempt = 1; attempt < tries; attempt++) {
      const again = answers.flatMap((answer, index) => answer.error && RETRYABLE_CODES.includes(answer.error.code) ? [index] : [])
      if (again.length === 0) break
      await sleep(backoffMs(attempt, retry ?? DEFAULT_RETRY))
      const retried = await send(again.map((index) => calls[index] as { method: string, params?: unknown }))
      again.forEach((index, position) => { answers[index] = retried[position] as JSONRPCResponse })
    }
    return answers
  }

  return {
    /** Calls one method; resolves with its result, rejects with UserRpcError or UserRpcTransportError. */
    async call<M extends UserRpcMethod> (method: M, ...[params]: ParamsArgument<M>): Promise<UserRpcResult<M>> {
      const [answer] = await run([{ method, params }])
      if (answer?.error) throw new UserRpcError(answer.error.message, answer.error.code, answer.error.data)
      return answer?.result as UserRpcResult<M>
    },

    /**
     * Sends several calls in one HTTP request. Resolves with one outcome per call, in order;
     * a call's failure is its outcome, not a rejection. Rejects only with UserRpcTransportError.
     */
    async batch<const Calls extends readonly UserRpcCall[]> (calls: Calls): Promise<{ [K in keyof Calls]: UserRpcOutcome<Calls[K]['method']> }> {
      if (calls.length === 0) return [] as { [K in keyof Calls]: UserRpcOutcome<Calls[K]['method']> }
      const answers = await run(calls)
      return answers.map((answer) => answer.error
        ? { ok: false, error: new UserRpcError(answer.error.message, answer.error.code, answer.error.data) }
        : { ok: true, result: answer.result }) as { [K in keyof Calls]: UserRpcOutcome<Calls[K]['method']> }
    },
  }
}

export type UserRpcClient = ReturnType<typeof createUserRpcClient>

/**
 * A write with an idempotency key of its own when it has none: made once per call, so every
 * try of it sends the same one (the service answers repeats with the first answer).
 */
function withKey (call: { method: string, params?: unknown }): { method: string, params?: unknown } {
  if (!(keyedMethods as readonly string[]).includes(call.method)) return call
  const params = (call.params ?? {}) as Record<string, unknown>
  if (params.idempotencyKey !== undefined) return call
  return { method: call.method, params: { ...params, idempotencyKey: globalThis.crypto.randomUUID() } }
}

let lastId = 0
/** Ids unique within this process, so concurrent requests on one client never share one. */
function nextId (): number {
  lastId = lastId >= Number.MAX_SAFE_INTEGER ? 1 : lastId + 1
  return lastId
}

/**
 * Exponential backoff with "equal jitter": half the step is fixed, half random, so callers that
 * failed together do not all come back at the same moment, and the wait never shrinks to zero.
 */
function backoffMs (attempt: number, retry: Required<RetryOptions>): number {
  const step = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 1))
  return step / 2 + Math.random() * (step / 2)
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
