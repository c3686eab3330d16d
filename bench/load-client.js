// @ts-check
/**
 * The load generator, a process of its own (forked by measure.js, never inside a server):
 * `concurrency` keep-alive connections, each in a closed loop (send one request, wait for
 * the answer, check it, send the next). It warms up, measures a window, then lets the
 * requests still in flight finish (so none spills into the next run) and exits.
 *
 * The warm-up lasts its time and, beyond it, until every connection has had its first
 * answer: all connections start at once, so until then the loop is not in its steady state.
 * The window opens on an answer and closes on the first answer once its time has passed.
 * Answers are what is counted, and slow requests come back in waves (128 batches of 100
 * share the pool fairly, so they finish together, seconds apart): a window cut by the clock
 * would count a wave more or less depending on where the cut falls; one cut on answers
 * holds whole waves, and is indistinguishable from a clock cut when answers are frequent.
 *
 * Messages: it receives one `LoadJob`; sends `{ type: 'window-start' }` and
 * `{ type: 'window-end' }` as the window opens and closes (the parent samples the server
 * then), and one `LoadResult` once the last answer is in.
 *
 * Every answer is checked, in the warm-up and the drain too: throughput and latencies come
 * from the window's right answers alone, but a wrong answer is an error whenever it comes.
 */
import { HttpConnection } from './http-connection.js'
import { workloads } from './workloads.js'

/**
 * @typedef {object} LoadJob
 * @property {string} host
 * @property {number[]} ports     connections go to these in turn (several: as a load balancer would spread them)
 * @property {string} workload
 * @property {number} concurrency
 * @property {number} warmupMs
 * @property {number} windowMs
 * @property {import('./workloads.js').WorkloadContext} context
 */

/**
 * @typedef {object} LoadResult
 * @property {'result'} type
 * @property {number} warmupSeconds    the warm-up's length as it came out
 * @property {number} seconds          the window's length, from the answer that opened it to the one that closed it
 * @property {number} requests         answered rightly in the window
 * @property {number} calls            requests × calls per request
 * @property {number} errors           wrong answers and failed requests, in the whole run, plus any still unanswered at the drain limit
 * @property {number} warmupErrors
 * @property {string[]} errorSamples   the first few distinct reasons
 * @property {Float64Array} latenciesMs  one per right answer in the window, in arrival order
 * @property {number} cpuShare         this process's CPU time over the window's wall time (1 = a core)
 */

/**
 * Longest to wait for an answer that ends a phase (the first answer of every connection,
 * the one that opens the window, the one that closes it, the last one): a server that stops
 * answering ends the run with errors rather than hanging it.
 */
const ANSWER_LIMIT_MS = 60_000
const MAX_ERROR_SAMPLES = 5

/** Latencies in a growable Float64Array: no per-answer allocation, one copy per doubling. */
class Samples {
  #values = new Float64Array(1 << 16)
  #count = 0
  add (/** @type {number} */ value) {
    if (this.#count === this.#values.length) {
      const grown = new Float64Array(this.#values.length * 2)
      grown.set(this.#values)
      this.#values = grown
    }
    this.#values[this.#count++] = value
  }

  values () { return this.#values.slice(0, this.#count) }
}

/** A promise and the function that settles it, for the moments that end a phase. */
function moment () {
  /** @type {() => void} */
  let resolve = () => {}
  /** @type {Promise<void>} */
  const reached = new Promise((_resolve) => { resolve = () => _resolve() })
  return { reached, resolve }
}

/** @param {LoadJob} job */
async function run (job) {
  const workload = workloads.get(job.workload)
  if (!workload) throw new Error(`unknown workload ${job.workload}`)
  const next = workload.generator(job.context)
  const heads = job.ports.map((port) => `POST ${workload.path} HTTP/1.1\r\nHost: ${job.host}:${port}\r\nContent-Type: ${workload.contentType}\r\nContent-Length: `)
  let connectionsMade = 0

  /** @type {'warmup' | 'opening' | 'window' | 'drain'} */
  let phase = 'warmup'
  let requests = 0
  let errors = 0
  let warmupErrors = 0
  const samples = new Samples()
  /** @type {Set<string>} */
  const reasons = new Set()
  let inFlight = 0
  let started = 0
  const allStarted = moment()
  const opened = moment()
  const closed = moment()
  const drained = moment()
  const window = { start: 0, deadline: Infinity, end: 0, cpuStart: process.cpuUsage(), cpu: process.cpuUsage() }

  const openWindow = (/** @type {number} */ now) => {
    phase = 'window'
    window.start = now
    window.deadline = now + job.windowMs
    window.cpuStart = process.cpuUsage()
    process.send?.({ type: 'window-start' })
    opened.resolve()
  }
  const closeWindow = (/** @type {number} */ now) => {
    phase = 'drain'
    window.end = now
    window.cpu = process.cpuUsage(window.cpuStart)
    process.send?.({ type: 'window-end' })
    closed.resolve()
  }

  /** @param {string} reason */
  const countError = (reason) => {
    errors++
    if (phase === 'warmup' || phase === 'opening') warmupErrors++
    if (reasons.size < MAX_ERROR_SAMPLES) reasons.add(reason)
  }

  /** One closed loop: a connection and the request it has in flight. */
  const loop = () => {
    const slot = connectionsMade++ % job.ports.length
    const head = /** @type {string} */ (heads[slot])
    const state = {
      connection: /** @type {HttpConnection | null} */ (null),
      /** @type {import('./workloads.js').Call | null} */
      call: null,
      sentAt: 0,
      answered: false,
    }
    const send = () => {
      const call = next()
      state.call = call
      state.sentAt = performance.now()
      inFlight++
      connection.send(head + Buffer.byteLength(call.body) + '\r\n\r\n' + call.body)
    }
    const settle = () => {
      if (!state.answered) {
        state.answered = true
        if (++started === job.concurrency) allStarted.resolve()
      }
      inFlight--
      if (phase !== 'drain') send()
      else if (inFlight === 0) drained.resolve()
    }
    const connection = new HttpConnection({
      host: job.host,
      port: /** @type {number} */ (job.ports[slot]),
      onAnswer: ({ status, body }) => {
        const now = performance.now()
        // The answer that opens the window is its first; the one that closes it is not in it.
        if (phase === 'opening') openWindow(now)
        else if (phase === 'window' && now >= window.deadline) closeWindow(now)
        const problem = status === 200 ? workload.check(body, state.call?.expected) : `HTTP ${status}: ${body.slice(0, 120)}`
        // Only right answers count: a service that refuses fast must not look fast.
        if (problem) countError(problem)
        else if (phase === 'window') {
          requests++
          samples.add(now - state.sentAt)
        }
        settle()
      },
      onFailure: (error) => {
        countError(error.message)
        // A server that refuses connections must not turn this loop into a busy spin.
        setTimeout(settle, 10)
      },
    })
    state.connection = connection
    send()
    return state
  }

  const warmupStart = performance.now()
  const loops = Array.from({ length: job.concurrency }, loop)

  await sleep(job.warmupMs)
  await Promise.race([allStarted.reached, sleep(ANSWER_LIMIT_MS)])
  phase = 'opening'
  await Promise.race([opened.reached, sleep(ANSWER_LIMIT_MS)])
  // No answer came to open or close the window: the clock does, and the errors say why.
  if (!window.start) openWindow(performance.now())
  await Promise.race([closed.reached, sleep(job.windowMs + ANSWER_LIMIT_MS)])
  if (!window.end) closeWindow(performance.now())

  if (inFlight > 0) await Promise.race([drained.reached, sleep(ANSWER_LIMIT_MS)])
  if (inFlight > 0) {
    errors += inFlight
    reasons.add(`${inFlight} request(s) unanswered ${ANSWER_LIMIT_MS / 1000} s after the window`)
  }
  for (const state of loops) state.connection?.close()

  const seconds = (window.end - window.start) / 1000
  /** @type {LoadResult} */
  const result = {
    type: 'result',
    warmupSeconds: (window.start - warmupStart) / 1000,
    seconds,
    requests,
    calls: requests * workload.callsPerRequest,
    errors,
    warmupErrors,
    errorSamples: [...reasons],
    latenciesMs: samples.values(),
    cpuShare: (window.cpu.user + window.cpu.system) / 1e6 / seconds,
  }
  await new Promise((resolve) => process.send?.(result, undefined, undefined, resolve))
}

/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// Orphaned (the parent died): stop at once rather than load a server nobody measures.
process.on('disconnect', () => process.exit(1))
process.once('message', (/** @type {LoadJob} */ job) => {
  run(job).then(
    () => process.exit(0),
    (error) => {
      process.stderr.write(`load client: ${error?.stack ?? error}\n`)
      process.exit(1)
    }
  )
})
