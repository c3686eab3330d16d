// @ts-check
/**
 * One HTTP/1.1 keep-alive connection that sends a request and hands back its answer, over a
 * raw `net` socket: the load generator must cost far less than the servers it measures, so
 * it writes prebuilt request text and reads only what it needs (status, Content-Length,
 * Connection) instead of running a full HTTP client per request.
 *
 * One request at a time per connection (a closed loop: no pipelining).
 */
import { connect } from 'node:net'

const HEADER_END = Buffer.from('\r\n\r\n')
const CONTENT_LENGTH = /\r\ncontent-length:[ \t]*(\d+)/i
const CONNECTION_CLOSE = /\r\nconnection:[ \t]*close/i

/**
 * @typedef {object} Answer
 * @property {number} status
 * @property {string} body
 */

/**
 * @typedef {object} ConnectionOptions
 * @property {string} host
 * @property {number} port
 * @property {(answer: Answer) => void} onAnswer      the answer to the request in flight
 * @property {(error: Error) => void} onFailure      the request in flight has no answer and never will
 */

export class HttpConnection {
  /** @type {import('node:net').Socket | null} */
  #socket = null
  /**
   * Bytes received and not yet consumed: the start of the next answer.
   * @type {Buffer}
   */
  #pending = Buffer.alloc(0)
  #waiting = false
  #options

  /** @param {ConnectionOptions} options */
  constructor (options) {
    this.#options = options
  }

  /** Sends one whole request (head and body); the answer comes to `onAnswer`. */
  send (/** @type {string} */ request) {
    if (this.#waiting) throw new Error('one request at a time on a connection')
    this.#waiting = true
    const socket = this.#socket ?? this.#open()
    socket.write(request)
  }

  close () {
    this.#socket?.destroy()
    this.#socket = null
  }

  #open () {
    const socket = connect({ host: this.#options.host, port: this.#options.port, noDelay: true })
    socket.on('data', (chunk) => this.#receive(chunk))
    socket.on('error', () => { /* 'close' follows and reports the failure */ })
    socket.on('close', () => {
      if (this.#socket !== socket) return
      this.#socket = null
      this.#pending = Buffer.alloc(0)
      this.#fail(new Error('connection closed before the answer'))
    })
    this.#socket = socket
    return socket
  }

  /** @param {Buffer} chunk */
  #receive (chunk) {
    // Most answers arrive in one chunk; copy only when one is split.
    const bytes = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk])
    const headEnd = bytes.indexOf(HEADER_END)
    if (headEnd < 0) {
      this.#pending = bytes
      return
    }
    const head = bytes.toString('latin1', 0, headEnd)
    const length = CONTENT_LENGTH.exec(head)
    if (!length) {
      // Every server here answers with a Content-Length; anything else is a broken answer.
      this.close()
      this.#fail(new Error(`answer without Content-Length: ${head.split('\r\n', 1)[0]}`))
      return
    }
    const bodyStart = headEnd + HEADER_END.length
    const bodyEnd = bodyStart + Number(length[1])
    if (bytes.length < bodyEnd) {
      this.#pending = bytes
      return
    }
    if (bytes.length > bodyEnd) {
      this.close()
      this.#fail(new Error('bytes after the answer to the only request in flight'))
      return
    }
    this.#pending = Buffer.alloc(0)
    this.#waiting = false
    const status = Number(head.slice(9, 12))
    // The server says it will hang up: open a new socket for the next request.
    if (CONNECTION_CLOSE.test(head)) this.close()
    this.#options.onAnswer({ status, body: bytes.toString('utf8', bodyStart, bodyEnd) })
  }

  /** @param {Error} error */
  #fail (error) {
    if (!this.#waiting) return
    this.#waiting = false
    this.#options.onFailure(error)
  }
}
