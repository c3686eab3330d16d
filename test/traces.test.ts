import { execFile, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { projectRoot } from '../src/paths.js'
import { tracesRequested } from '../src/tracing/traces-requested.js'
import { callOnNewConnection, fetchRpc, request } from './support/clients.js'
import { testDatabaseUrl, uniqueLogin, waitFor } from './support/database.js'
import { startOtlpReceiver, type AttributeValue, type OtlpReceiver, type ReceivedSpan } from './support/otlp-receiver.js'
import { killLeftoverServices, startService, type ServiceProcess } from './support/processes.js'

/**
 * docs/observability.md, Traces: the built service started as an operator starts it, with
 * OpenTelemetry's standard variables only, exporting to an OTLP/HTTP receiver of the test's
 * own. The assertions are on trees of spans: HTTP server span -> call span -> transaction ->
 * statements.
 */

afterAll(() => killLeftoverServices())

const hex = (bytes: number) => randomBytes(bytes).toString('hex')

/** Only the standard variables: an endpoint, OTLP's JSON encoding, and a short batch delay. */
const tracedEnv = (receiver: OtlpReceiver, extra: Record<string, string> = {}) => ({
  DATABASE_URL: testDatabaseUrl(),
  OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
  OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
  OTEL_BSP_SCHEDULE_DELAY: '100',
  ...extra,
})

const parentOf = (spans: ReceivedSpan[], span: ReceivedSpan) =>
  spans.find((candidate) => candidate.traceId === span.traceId && candidate.spanId === span.parentSpanId)

const childrenOf = (spans: ReceivedSpan[], span: ReceivedSpan) => spans
  .filter((candidate) => candidate.traceId === span.traceId && candidate.parentSpanId === span.spanId)
  .sort((a, b) => Number(BigInt(a.startTimeUnixNano) - BigInt(b.startTimeUnixNano)))

/** The names from a span up to its trace's root. */
function ancestry (spans: ReceivedSpan[], span: ReceivedSpan): string[] {
  const names = [span.name]
  for (let parent = parentOf(spans, span); parent; parent = parentOf(spans, parent)) names.push(parent.name)
  return names
}

/** A statement's span by what it does (its first SQL word), not by its prepared statement's name. */
const label = (span: ReceivedSpan) =>
  span.name.startsWith('pg.query') ? `pg.query ${String(span.attributes['db.query.text']).split(' ', 1)[0]}` : span.name

/**
 * The tree below a span, one line per span, indented, children in start order. A new pool
 * connection (pg.connect) shows up only when the pool opens one, so it is left out.
 */
function tree (spans: ReceivedSpan[], root: ReceivedSpan, depth = 0): string[] {
  const lines = [`${'  '.repeat(depth)}${label(root)}`]
  for (const child of childrenOf(spans, root)) {
    if (child.name !== 'pg.connect') lines.push(...tree(spans, child, depth + 1))
  }
  return lines
}

const callSpans = (spans: ReceivedSpan[]) => spans.filter((span) => span.attributes['rpc.system'] === 'jsonrpc')
const withRequestId = (id: string) => (spans: ReceivedSpan[]) => callSpans(spans).find((span) => span.attributes['rpc.jsonrpc.request_id'] === id)
const inTrace = (traceId: string) => (spans: ReceivedSpan[]) => spans.filter((span) => span.traceId === traceId)

/** A traceparent of a caller's own, sampled. */
const callerContext = () => ({ traceId: hex(16), parentId: hex(8) })
const traceparent = ({ traceId, parentId }: { traceId: string, parentId: string }) => `00-${traceId}-${parentId}-01`

/** Resolves once the receiver holds a span matching `find`. */
async function spanFor (receiver: OtlpReceiver, what: string, find: (spans: ReceivedSpan[]) => ReceivedSpan | undefined): Promise<ReceivedSpan> {
  await receiver.waitFor(what, (spans) => find(spans) !== undefined)
  return find(receiver.spans) as ReceivedSpan
}

/** Waits for a whole trace: its root (the HTTP server span) ends last, so it comes last or with the rest. */
async function wholeTrace (receiver: OtlpReceiver, traceId: string, children: (spans: ReceivedSpan[]) => boolean = () => true) {
  await receiver.waitFor(`the trace ${traceId}`, (spans) => {
    const mine = inTrace(traceId)(spans)
    return mine.some((span) => span.kind === 2 && span.scope === '@opentelemetry/instrumentation-http') && children(mine)
  })
  return inTrace(traceId)(receiver.spans)
}

const createTree = [
  'user.create',
  '  prisma:client:transaction',
  '    prisma:client:start_transaction',
  '      pg-pool.connect',
  '      pg.query BEGIN',
  '    prisma:client:operation',
  '      pg.query INSERT',
  '    prisma:client:commit_transaction',
  '      pg.query COMMIT',
]

describe('a traced service', { timeout: 60_000 }, () => {
  let receiver: OtlpReceiver
  let service: ServiceProcess
  beforeAll(async () => {
    receiver = await startOtlpReceiver()
    // Batches run two members at a time, so some wait in the queue (their spans must still nest).
    service = await startService(tracedEnv(receiver, { XMLRPC_PATH: '/RPC2', RPC_BATCH_CONCURRENCY: '2' }))
  })
  afterAll(async () => {
    await service?.stop()
    await receiver?.close()
  })

  it('when a call comes without a traceparent, then a new trace runs from the HTTP server span through the call span to each statement', async () => {
    const id = `single-${hex(4)}`
    const answer = await fetchRpc(`${service.url}/rpc`, request('user.create', { login: uniqueLogin('trace') }, id))
    expect(answer.body).toHaveProperty('result')

    const call = await spanFor(receiver, 'the call span', withRequestId(id))
    const spans = await wholeTrace(receiver, call.traceId, (mine) => mine.some((span) => label(span) === 'pg.query COMMIT'))
    expect(ancestry(spans, call)).toEqual(['user.create', 'handler - rpcRoute', 'request', 'POST /rpc'])
    const root = spans.find((span) => span.name === 'POST /rpc')
    expect(root).toMatchObject({ parentSpanId: '', kind: 2, scope: '@opentelemetry/instrumentation-http', resource: { 'service.name': 'user-rpc' } })
    expect(root?.attributes).toMatchObject({ 'http.request.method': 'POST', 'url.path': '/rpc', 'http.response.status_code': 200 })

    expect(call.kind).toBe(2)
    expect(call.attributes).toEqual({
      'rpc.system': 'jsonrpc',
      'rpc.system.name': 'jsonrpc',
      'rpc.jsonrpc.version': '2.0',
      'rpc.method': 'user.create',
      'rpc.jsonrpc.request_id': id,
      'user_rpc.transport': 'jsonrpc',
    })
    expect(call.status.code).toBe(0)
    expect(tree(spans, call)).toEqual(createTree)

    const insert = spans.find((span) => label(span) === 'pg.query INSERT')
    expect(insert?.attributes).toMatchObject({ 'db.system.name': 'postgresql', 'db.namespace': new URL(testDatabaseUrl()).pathname.slice(1) })
    expect(insert?.attributes['db.query.text']).toMatch(/^INSERT INTO "public"\."users" \(.*\) VALUES \(\$1(,\$\d)*\) RETURNING /)
  })

  it('when a batch comes, then each member has its own call span with its own transaction, all under the one HTTP request', async () => {
    const ids = [1, 2, 3, 4, 5].map((n) => `batch-${n}-${hex(4)}`)
    const body = [
      request('user.create', { login: uniqueLogin('b1') }, ids[0]),
      request('user.get', { id: 2_000_000_000 }, ids[1]),
      request('user.create', { login: uniqueLogin('b3') }, ids[2]),
      request('user.list', { limit: 1 }, ids[3]),
      request('user.create', { login: uniqueLogin('b5') }, ids[4]),
    ]
    const answer = await fetchRpc(`${service.url}/rpc`, body)
    expect((answer.body as unknown[]).length).toBe(5)

    const first = await spanFor(receiver, 'the first member\'s span', withRequestId(ids[0] as string))
    const spans = await wholeTrace(receiver, first.traceId, (mine) => callSpans(mine).length === 5 && mine.filter((span) => span.name === 'prisma:client:transaction').length === 5)
    const members = ids.map((id) => withRequestId(id)(spans) as ReceivedSpan)
    expect(members.map((span) => span.name)).toEqual(['user.create', 'user.get', 'user.create', 'user.list', 'user.create'])
    // Queued members too: one parent, the route handler of the one HTTP request.
    const handler = parentOf(spans, first) as ReceivedSpan
    expect(members.every((span) => span.parentSpanId === handler.spanId)).toBe(true)
    expect(ancestry(spans, handler)).toEqual(['handler - rpcRoute', 'request', 'POST /rpc'])
    expect(spans.filter((span) => span.name === 'POST /rpc')).toHaveLength(1)

    expect(tree(spans, members[0] as ReceivedSpan)).toEqual(createTree)
    expect(tree(spans, members[1] as ReceivedSpan)).toEqual([
      'user.get',
      '  prisma:client:transaction',
      '    prisma:client:start_transaction',
      '      pg-pool.connect',
      '      pg.query BEGIN',
      '    prisma:client:operation',
      '      pg.query SELECT',
      '    prisma:client:rollback_transaction',
      '      pg.query ROLLBACK',
    ])
    expect(members[1]?.status.code).toBe(2)
    expect(members.filter((span) => span.status.code !== 0)).toHaveLength(1)
  })

  it('when a call comes over the XML-RPC bridge, then it gets the same call span, marked xmlrpc, under the bridge\'s HTTP request', async () => {
    const login = uniqueLogin('xml')
    const body = `<?xml version="1.0"?><methodCall><methodName>user.create</methodName><params><param><value><struct><member><name>login</name><value><string>${login}</string></value></member></struct></value></param></params></methodCall>`
    const context = callerContext()
    const answer = await fetch(`${service.url}/RPC2`, { method: 'POST', headers: { 'content-type': 'text/xml', traceparent: traceparent(context) }, body })
    expect(await answer.text()).toContain(login)

    const spans = await wholeTrace(receiver, context.traceId, (mine) => mine.some((span) => label(span) === 'pg.query COMMIT'))
    const [call] = callSpans(spans)
    expect(callSpans(spans)).toHaveLength(1)
    expect(ancestry(spans, call as ReceivedSpan)).toEqual(['user.create', 'handler - xmlRpcRoute', 'request', 'POST /RPC2'])
    expect(call?.attributes).toEqual({
      'rpc.system': 'jsonrpc',
      'rpc.system.name': 'jsonrpc',
      'rpc.jsonrpc.version': '2.0',
      'rpc.method': 'user.create',
      'user_rpc.transport': 'xmlrpc',
    })
    expect(tree(spans, call as ReceivedSpan)).toEqual(createTree)
  })

  it('when calls fail, then each call span carries the error code and message and the error status', async () => {
    const notFound = `missing-${hex(4)}`
    const invalid = `invalid-${hex(4)}`
    const unknown = `unknown-${hex(4)}`
    await fetchRpc(`${service.url}/rpc`, request('user.get', { id: 2_000_000_000 }, notFound))
    await fetchRpc(`${service.url}/rpc`, request('user.create', { login: 5 }, invalid))
    await fetchRpc(`${service.url}/rpc`, request('no.such.method', {}, unknown))

    const missing = await spanFor(receiver, 'the not-found call', withRequestId(notFound))
    expect(missing.status).toEqual({ code: 2, message: 'User not found' })
    expect(missing.attributes).toMatchObject({
      'rpc.method': 'user.get',
      'rpc.jsonrpc.error_code': -32004,
      'rpc.jsonrpc.error_message': 'User not found',
      'rpc.response.status_code': '-32004',
      'error.type': '-32004',
    })

    // Params are checked before a transaction is opened: nothing below the call.
    const refused = await spanFor(receiver, 'the invalid-params call', withRequestId(invalid))
    expect(refused.status).toEqual({ code: 2, message: 'Invalid params' })
    expect(refused.attributes).toMatchObject({ 'rpc.jsonrpc.error_code': -32602, 'rpc.response.status_code': '-32602' })
    expect(childrenOf(receiver.spans, refused)).toEqual([])

    // A name that is not ours is not a span name: the conventions' _OTHER stands for it.
    const other = await spanFor(receiver, 'the unknown-method call', withRequestId(unknown))
    expect(other.name).toBe('_OTHER')
    expect(other.attributes).toMatchObject({ 'rpc.method': '_OTHER', 'rpc.jsonrpc.error_code': -32601 })
    expect(receiver.spans.some((span) => span.name.includes('no.such.method'))).toBe(false)
  })

  it('when the caller sends traceparent and tracestate, then the HTTP server span continues the caller\'s trace', async () => {
    const context = callerContext()
    const id = `parent-${hex(4)}`
    await fetchRpc(`${service.url}/rpc`, request('user.list', { limit: 1 }, id), { traceparent: traceparent(context), tracestate: 'caller=abc' })

    const call = await spanFor(receiver, 'the call span', withRequestId(id))
    expect(call.traceId).toBe(context.traceId)
    const spans = await wholeTrace(receiver, context.traceId)
    const root = spans.find((span) => span.name === 'POST /rpc')
    expect(root?.parentSpanId).toBe(context.parentId)
    expect(root?.traceState).toBe('caller=abc')
    expect(call.traceState).toBe('caller=abc')
    expect(ancestry(spans, call)).toEqual(['user.list', 'handler - rpcRoute', 'request', 'POST /rpc'])
  })

  it('when a traced call logs, then its log line carries the trace and span ids of its call span', async () => {
    const id = `logged-${hex(4)}`
    const requestId = `log-${hex(6)}`
    await fetchRpc(`${service.url}/rpc`, request('user.list', { limit: 1 }, id), { 'x-request-id': requestId })
    const call = await spanFor(receiver, 'the call span', withRequestId(id))
    const line = await service.waitForLine('the call\'s log line', (entry) => entry.msg === 'rpc call' && entry.reqId === requestId)
    expect(line).toMatchObject({ trace_id: call.traceId, span_id: call.spanId, trace_flags: '01', rpcMethod: 'user.list' })
  })

  it('when probes and scrapes come, then they make no traces', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics']) expect((await fetch(`${service.url}${path}`)).status).toBe(200)
    const id = `after-probes-${hex(4)}`
    await fetchRpc(`${service.url}/rpc`, request('user.list', { limit: 1 }, id))
    await spanFor(receiver, 'a later call', withRequestId(id))
    expect(receiver.spans.filter((span) => /healthz|readyz|metrics/.test(`${span.name} ${String(span.attributes['url.path'])}`))).toEqual([])
  })
})

describe('personal data', { timeout: 120_000 }, () => {
  it('when calls carry logins and names, over JSON-RPC and XML-RPC, failing or not, then no exported span, attribute, event or status holds any of them', async () => {
    const receiver = await startOtlpReceiver()
    const service = await startService(tracedEnv(receiver, { XMLRPC_PATH: '/RPC2' }))
    try {
      const secret = () => `pii${hex(6)}`
      const login = secret()
      const other = secret()
      const values = { login, other, first: secret(), last: secret(), renamed: secret(), xmlLogin: secret(), badName: secret(), method: secret() }
      const created = await callOnNewConnection(service.url, 'user.create', { login, firstName: values.first, lastName: values.last })
      const userId = (created.body.result as { id: number }).id
      const calls: Array<[string, unknown]> = [
        ['user.update', { id: userId, firstName: values.renamed }],
        ['user.getByLogin', { login }],
        ['user.getByLogin', { login: other }],
        // Taken: the error's data names the login, the span must not.
        ['user.create', { login }],
        ['user.create', { login: values.badName, firstName: 42 }],
        [values.method, { login }],
        ['user.delete', { id: userId }],
      ]
      for (const [method, params] of calls) await callOnNewConnection(service.url, method, params)
      const xml = `<?xml version="1.0"?><methodCall><methodName>create_user</methodName><params><param><value><struct><member><name>login</name><value><string>${values.xmlLogin}</string></value></member><member><name>first_name</name><value><string>${values.first}</string></value></member></struct></value></param></params></methodCall>`
      expect((await fetch(`${service.url}/RPC2`, { method: 'POST', headers: { 'content-type': 'text/xml' }, body: xml })).status).toBe(200)

      // The scan covers what it should: every call's span and the statements that carried the values.
      await receiver.waitFor('every call and its statements', (spans) => callSpans(spans).length === 1 + calls.length + 1 &&
        spans.filter((span) => span.name === 'POST /rpc' || span.name === 'POST /RPC2').length === 1 + calls.length + 1)
      expect(receiver.spans.filter((span) => /^(INSERT|UPDATE|DELETE)/.test(String(span.attributes['db.query.text']))).length).toBeGreaterThanOrEqual(4)

      const leaks: string[] = []
      const scan = (where: string, value: AttributeValue | string) => {
        const text = JSON.stringify(value)
        for (const [name, secretValue] of Object.entries(values)) if (text.includes(secretValue)) leaks.push(`${where} holds ${name}`)
      }
      for (const span of receiver.spans) {
        scan(`span name "${span.name}"`, span.name)
        for (const [key, value] of Object.entries({ ...span.attributes, ...span.resource })) scan(`${span.name} ${key}`, value)
        scan(`${span.name} status`, span.status.message ?? '')
        for (const event of span.events) scan(`${span.name} event ${event.name}`, [event.name, ...Object.values(event.attributes)])
      }
      expect(leaks).toEqual([])
    } finally {
      await service.stop()
      await receiver.close()
    }
  })
})

describe('shutdown', { timeout: 120_000 }, () => {
  it('when SIGTERM comes before the batch processor\'s delay, then the answered calls\' spans are exported before the process exits 0', async () => {
    const receiver = await startOtlpReceiver()
    // Ten minutes: nothing leaves on the timer, only on the flush at shutdown.
    const service = await startService(tracedEnv(receiver, { OTEL_BSP_SCHEDULE_DELAY: '600000' }))
    try {
      const id = `flushed-${hex(4)}`
      await fetchRpc(`${service.url}/rpc`, request('user.create', { login: uniqueLogin('flush') }, id))
      expect(withRequestId(id)(receiver.spans)).toBeUndefined()
      expect(await service.stop()).toBe(0)
      const call = withRequestId(id)(receiver.spans) as ReceivedSpan
      expect(call).toBeDefined()
      expect(ancestry(receiver.spans, call)).toEqual(['user.create', 'handler - rpcRoute', 'request', 'POST /rpc'])
      expect(tree(receiver.spans, call)).toEqual(createTree)
    } finally {
      await receiver.close()
    }
  })

  it('when WORKERS=2 stops on SIGTERM, then each worker exports the spans of the calls it answered', async () => {
    const receiver = await startOtlpReceiver()
    const service = await startService(tracedEnv(receiver, { WORKERS: '2', OTEL_BSP_SCHEDULE_DELAY: '600000' }))
    try {
      const workerPids = new Set<number>()
      // Connections go to the workers in turn; a few more calls than workers reach both.
      for (let n = 0; n < 6; n++) {
        const answer = await callOnNewConnection(service.url, 'user.list', { limit: 1 })
        expect(answer.body).toHaveProperty('result')
      }
      expect(await service.stop()).toBe(0)
      const calls = callSpans(receiver.spans)
      expect(calls).toHaveLength(6)
      for (const span of calls) workerPids.add(Number(span.resource['process.pid']))
      expect(workerPids.size).toBe(2)
      expect(workerPids.has(service.pid)).toBe(false)
    } finally {
      await receiver.close()
    }
  })

  it('when the collector cannot be reached, then calls are answered, the log says why no traces left, and the process still exits 0', async () => {
    const receiver = await startOtlpReceiver()
    const closedEndpoint = receiver.endpoint
    await receiver.close()
    const service = await startService({ DATABASE_URL: testDatabaseUrl(), OTEL_EXPORTER_OTLP_ENDPOINT: closedEndpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '600000' })
    const answer = await callOnNewConnection(service.url, 'user.list', { limit: 1 })
    expect(answer.body).toHaveProperty('result')
    expect(await service.stop()).toBe(0)
    const warnings = service.lines.filter((line) => line.level >= 40 && /OTEL_EXPORTER_OTLP_ENDPOINT|opentelemetry/.test(String(line.msg)))
    expect(warnings.map((line) => line.msg).join('\n')).toMatch(/ECONNREFUSED|OTEL_EXPORTER_OTLP_ENDPOINT/)
  })
})

describe('switched by the standard variables', { timeout: 60_000 }, () => {
  it('when only OTEL_EXPORTER_OTLP_ENDPOINT is set, then traces go out in OTLP\'s default encoding, http/protobuf', async () => {
    const receiver = await startOtlpReceiver()
    const service = await startService({ DATABASE_URL: testDatabaseUrl(), OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY: '100' })
    try {
      await callOnNewConnection(service.url, 'user.list', { limit: 1 })
      await receiver.waitFor('a protobuf export', () => receiver.requests.some((exported) => exported.contentType === 'application/x-protobuf' && exported.bytes > 0))
      expect(receiver.requests.every((exported) => exported.contentType === 'application/x-protobuf')).toBe(true)
    } finally {
      await service.stop()
      await receiver.close()
    }
  })

  it('when OTEL_TRACES_EXPORTER=none, then nothing is exported and log lines carry no trace ids', async () => {
    const receiver = await startOtlpReceiver()
    const service = await startService(tracedEnv(receiver, { OTEL_TRACES_EXPORTER: 'none' }))
    const requestId = `untraced-${hex(6)}`
    await callOnNewConnection(service.url, 'user.list', { limit: 1 }, { 'x-request-id': requestId })
    const line = await service.waitForLine('the call\'s log line', (entry) => entry.msg === 'rpc call' && entry.reqId === requestId)
    expect(await service.stop()).toBe(0)
    await receiver.close()
    expect(line.trace_id).toBeUndefined()
    expect(receiver.requests).toEqual([])
  })

  it.each([
    [{}, false],
    [{ OTEL_SERVICE_NAME: 'x', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_TRACES_SAMPLER: 'always_on' }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, true],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }, true],
    [{ OTEL_TRACES_EXPORTER: 'console' }, true],
    [{ OTEL_TRACES_EXPORTER: 'otlp,console' }, true],
    [{ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, false],
    [{ OTEL_SDK_DISABLED: 'true', OTEL_TRACES_EXPORTER: 'otlp' }, false],
  ])('when the environment is %j, then traces are asked for: %s', (env, expected) => {
    expect(tracesRequested(env)).toBe(expected)
  })

  it('when OTEL variables ask for traces but the service is started without the preload, then it says how to start it', async () => {
    const child = spawn(process.execPath, [join(projectRoot, 'dist', 'server.js')], {
      cwd: tmpdir(),
      env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', DATABASE_URL: testDatabaseUrl(), OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
    const exited = new Promise((resolve) => child.once('exit', resolve))
    await waitFor('the service to be ready', () => output.includes('user-rpc ready') || undefined, 50, 50_000)
    child.kill('SIGTERM')
    await exited
    const warning = output.split('\n').find((line) => line.includes('the OpenTelemetry SDK was not loaded'))
    expect(JSON.parse(warning ?? '{}')).toMatchObject({ level: 40, msg: expect.stringContaining('node --import ./dist/telemetry.js dist/server.js') })
  })

  it('when nothing asks for traces, then the preload registers nothing with OpenTelemetry; when something does, it does', async () => {
    const preload = pathToFileURL(join(projectRoot, 'dist', 'telemetry.js')).href
    // The API keeps what an SDK registers (tracer provider, context manager, propagator) on this global.
    const probe = 'console.log(JSON.stringify(Object.keys(globalThis[Symbol.for("opentelemetry.js.api.1")] ?? {})))'
    const run = async (env: Record<string, string>) => JSON.parse((await promisify(execFile)(process.execPath, ['--import', preload, '--input-type=module', '-e', probe], { env: { PATH: process.env.PATH ?? '', ...env } })).stdout) as string[]
    expect(await run({})).toEqual([])
    expect(await run({ OTEL_TRACES_EXPORTER: 'console' })).toEqual(expect.arrayContaining(['trace', 'context', 'propagation']))
  })
})
