// @ts-check
// JSON-RPC 2.0 over newline-delimited JSON, as the Prisma CLI speaks it with
// its schema engine: requests come in on stdin and are answered on stdout,
// strictly one after the other; the engine may itself ask the CLI to do
// things (only `print` so far) and wait for the answer.
import { createInterface } from 'node:readline'

/**
 * @typedef {{ request: (method: string, params: unknown) => Promise<unknown> }} Peer
 * @typedef {(method: string, params: unknown, peer: Peer) => Promise<unknown>} Handler
 * @typedef {{ code: number, message: string, data?: unknown }} RpcError
 * @typedef {{ jsonrpc?: string, id?: number | string | null, method?: string, params?: unknown,
 *   result?: unknown, error?: RpcError }} Message
 */

/** A failure that already knows its JSON-RPC shape. */
export class RpcFailure extends Error {
  /** @param {RpcError} error */
  constructor (error) {
    super(error.message)
    this.rpcError = error
  }
}

/**
 * Serves until `input` ends, then resolves once every request received has
 * been answered.
 * @param {object} options
 * @param {NodeJS.ReadableStream} options.input
 * @param {NodeJS.WritableStream} options.output
 * @param {Handler} options.handle
 * @param {(error: unknown) => RpcError} options.toRpcError
 * @returns {Promise<void>}
 */
export function serve ({ input, output, handle, toRpcError }) {
  /** @type {Map<number, { resolve: (value: unknown) => void, reject: (reason: Error) => void }>} */
  const awaitingAnswer = new Map()
  let nextId = 1
  let queue = Promise.resolve()

  /** @param {Message} message */
  const send = (message) => { output.write(`${JSON.stringify({ jsonrpc: '2.0', ...message })}\n`) }

  /** @type {Peer} */
  const peer = {
    request (method, params) {
      const id = nextId++
      send({ id, method, params })
      return new Promise((resolve, reject) => awaitingAnswer.set(id, { resolve, reject }))
    },
  }

  /** @param {Message} request */
  async function answer (request) {
    const id = request.id ?? null
    try {
      if (typeof request.method !== 'string') {
        throw new RpcFailure({ code: -32600, message: 'Invalid Request' })
      }
      const result = await handle(request.method, request.params, peer)
      // The CLI treats a response without `result` as malformed, and
      // void engine methods answer `{}` in the native engine too.
      if (id !== null) send({ id, result: result ?? {} })
    } catch (error) {
      if (id !== null) send({ id, error: error instanceof RpcFailure ? error.rpcError : toRpcError(error) })
    }
  }

  const lines = createInterface({ input, crlfDelay: Infinity })
  lines.on('line', (line) => {
    if (line.trim() === '') return
    /** @type {Message} */
    let message
    try {
      message = JSON.parse(line)
    } catch {
      send({ id: null, error: { code: -32700, message: 'Parse error' } })
      return
    }
    if (message.method === undefined && message.id != null) {
      // An answer to one of our own requests: settle it now, even while
      // the request that made it is still running.
      const waiter = awaitingAnswer.get(Number(message.id))
      awaitingAnswer.delete(Number(message.id))
      if (message.error) waiter?.reject(new Error(message.error.message))
      else waiter?.resolve(message.result)
      return
    }
    queue = queue.then(() => answer(message))
  })

  return new Promise((resolve) => {
    lines.on('close', () => {
      for (const { reject } of awaitingAnswer.values()) reject(new Error('stdin closed'))
      awaitingAnswer.clear()
      resolve(queue)
    })
  })
}
