// @ts-check
/**
 * The load generator, a process of its own (forked by run-one.js, never inside a server):
 * `concurrency` keep-alive connections, each in a closed loop (send one request, wait for
 * the answer, check it, send the next). It warms up, then measures a fixed window, then
 * lets the requests still in flight finish (so none spills into the next run) and exits.
 *
 * Messages: it receives one `LoadJob`; sends `{ type: 'window-start' }` and
 * `{ type: 'window-end' }` as the window opens and closes (the parent samples the server
 * then), and one `LoadResult` once the last answer is in.
 *
 * Every answer is checked, in the warm-up and the drain too: throughput and latencies come
 * from the window alone, but a wrong answer is wrong whenever it comes.
 */
import { HttpConnection } from './http-connection.js'
import { workloads } from './workloads.js'

/**
 * @typedef {object} LoadJob
 * @property {string} host
 * @property {number} port
 * @property {string} workload
 * @property {number} concurrency
 * @property {number} warmupMs
 * @property {number} windowMs
 * @property {import('./workloads.js').WorkloadContext} context
 */

/**
 * @typedef {object} LoadResult
 * @property {'result'} type
 * @property {number} seconds          the window's length as measured here
 * @property {number} requests         answered in the window
 * @property {number} calls            requests × calls per request
 * @property {number} errors           wrong answers and failed requests, in the whole run, plus any still unanswered at the drain limit
 * @property {number} warmupErrors
 * @property {string[]} errorSamples   the first few distinct reasons
 * @property {Float64Array} latenciesMs  one per answer in the window, in arrival order
 * @property {number} cpuShare         this process's CPU time over the window's wall time (1 = a core)
 */

/** Longest the in-flight requests may take to finish once the window has closed. */
const DRAIN_LIMIT_MS = 60_000
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

/** @param {LoadJob} job */
async function run (job) {
  const workload = workloads.get(job.workload)
  if (!workload) throw new Error(`unknown workload ${job.workload}`)
  const next = workload.generator(job.context)
  const head = `POST ${workload.path} HTTP/1.1\r\nHost: ${job.host}:${job.port}\r\nContent-Type: ${workload.contentType}\r\nContent-Length: `

  /** @type {'warmup' | 'window' | 'drain'} */
  let phase = 'warmup'
  let requests = 0
  let errors = 0
  let warmupErrors = 0
  const samples = new Samples()
  /** @type {Set<string>} */
  const reasons = new Set()
  let inFlight = 0
  /** @type {() => void} */
  let drained = () => {}

  /** @param {string} reason */
  const countError = (reason) => {
    errors++
    if (phase === 'warmup') warmupErrors++
    if (reasons.size < MAX_ERROR_SAMPLES) reasons.add(reason)
  }

  /** One closed loop: a connection and the request it has in flight. */
  const loop = () => {
    const state = {
      connection: /** @type {HttpConnection | null} */ (null),
      /** @type {import('./workloads.js').Call | null} */
      call: null,
      sentAt: 0,
    }
    const send = () => {
      const call = next()
      state.call = call
      state.sentAt = performance.now()
      inFlight++
      connection.send(head + Buffer.byteLength(call.body) + '\r\n\r\n' + call.body)
    }
    const settle = () => {
      inFlight--
      if (phase !== 'drain') send()
      else if (inFlight === 0) drained()
    }
    const connection = new HttpConnection({
      host: job.host,
      port: job.port,
      onAnswer: ({ status, body }) => {
        if (phase === 'window') {
          requests++
          samples.add(performance.now() - state.sentAt)
        }
        if (status !== 200) countError(`HTTP ${status}: ${body.slice(0, 120)}`)
        else {
          const problem = workload.check(body, state.call?.expected)
          if (problem) countError(problem)
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

  const loops = Array.from({ length: job.concurrency }, loop)

  await sleep(job.warmupMs)
  phase = 'window'
  const windowStart = performance.now()
  const cpuStart = process.cpuUsage()
  process.send?.({ type: 'window-start' })

  await sleep(job.windowMs)
  const windowEnd = performance.now()
  const cpu = process.cpuUsage(cpuStart)
  phase = 'drain'
  process.send?.({ type: 'window-end' })
  const seconds = (windowEnd - windowStart) / 1000

  if (inFlight > 0) {
    await Promise.race([new Promise((resolve) => { drained = () => resolve(undefined) }), sleep(DRAIN_LIMIT_MS)])
  }
  if (inFlight > 0) {
    errors += inFlight
    reasons.add(`${inFlight} request(s) unanswered ${DRAIN_LIMIT_MS / 1000} s after the window`)
  }
  for (const state of loops) state.connection?.close()

  /** @type {LoadResult} */
  const result = {
    type: 'result',
    seconds,
    requests,
    calls: requests * workload.callsPerRequest,
    errors,
    warmupErrors,
    errorSamples: [...reasons],
    latenciesMs: samples.values(),
    cpuShare: (cpu.user + cpu.system) / 1e6 / seconds,
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
