import { isUtf8 } from 'node:buffer'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { methods } from '../src/app.js'
import { answerProblem, buildTestApp, exchange, listen, postRequest, type RawAnswer, type TestApp } from './support/clients.js'
import { createOwnDatabase, type OwnDatabase } from './support/database.js'

/**
 * docs/reliability.md: hostile input over real sockets. Whatever arrives, the answer is a
 * well-formed JSON-RPC response (or 204, or a documented refusal with a JSON-RPC body), never
 * a 5xx or -32603, never a hang, and the process goes on serving. The calls may touch any row
 * (arbitrary ids, deletes), so the service runs on a database of its own. Slow clients
 * (REQUEST_TIMEOUT_MS) are in limits.test.ts.
 */
let database: OwnDatabase
let service: TestApp
let port: number

beforeAll(async () => {
  database = await createOwnDatabase('user_rpc_hostile')
  service = await buildTestApp({}, { databaseUrl: database.url })
  port = Number(new URL(await listen(service)).port)
})
afterAll(async () => {
  await service?.close()
  await database?.drop()
})

/**
 * Settings for every fc.assert here: a fixed number of runs, so a property costs the same
 * every time (a few seconds), and shrinking cut off after `shrinkLimitMs` so a failure over a
 * socket cannot run on past the test's timeout (fast-check then reports the smallest
 * counterexample it has). A failure's message carries the seed and path; to replay one, run
 * the file with FC_SEED=<seed> FC_PATH=<path>.
 */
function propertyRuns (numRuns: number, shrinkLimitMs = 30_000): fc.Parameters<unknown> {
  const seed = process.env.FC_SEED
  return {
    numRuns,
    interruptAfterTimeLimit: shrinkLimitMs + numRuns * 1000,
    markInterruptAsFailure: true,
    ...(seed ? { seed: Number(seed), ...(process.env.FC_PATH ? { path: process.env.FC_PATH } : {}) } : {}),
  }
}

const send = (body: Buffer | string, headers?: Record<string, string>) => exchange(port, postRequest(body, headers))

/** The answer, checked against what the README and docs/api.md allow, and its parsed body. */
async function answered (body: Buffer | string): Promise<{ answer: RawAnswer, json: any }> {
  const answer = await send(body)
  const problem = answerProblem(answer)
  if (problem) throw new Error(`${problem}\nsent: ${(typeof body === 'string' ? body : body.toString('latin1')).slice(0, 300)}`)
  const json = answer.body === '' ? null : JSON.parse(answer.body)
  for (const response of Array.isArray(json) ? json : json ? [json] : []) {
    if (response.error?.code === -32603) throw new Error(`an internal error for hostile input: ${answer.body.slice(0, 300)}`)
  }
  return { answer, json }
}

// ---- generators ----------------------------------------------------------------------

/** One code point of any kind, or one of the usual troublemakers, lone surrogates included. */
const hostileChar = fc.oneof(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  fc.constantFrom('\u0000', '\ud800', '\udbff', '\udc00', '\u001f', '\u007f', '\u0085', '\u2028', ' ', '\ufeff', '\uffff', '"', '\\')
)
const hostileText = fc.string({ unit: hostileChar, maxLength: 40 })

const INT4 = 2_147_483_647
const numbers = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, -0, 1, INT4, INT4 + 1, -INT4 - 1, -INT4 - 2, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), Number.MAX_VALUE, Number.MIN_VALUE, 1e21, 1e-7)
)
const jsonLeaf = fc.oneof(numbers, hostileText, fc.boolean(), fc.constant(null))
const jsonish = fc.oneof(
  { weight: 3, arbitrary: jsonLeaf },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) }
)

const METHOD_NAMES = Object.keys(methods)
const method = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...METHOD_NAMES) },
  { weight: 1, arbitrary: fc.constantFrom('rpc.discover', 'rpc.other', '__proto__', 'constructor', 'toString', 'hasOwnProperty', '') },
  { weight: 1, arbitrary: hostileText }
)
const PARAM_NAMES = ['id', 'login', 'firstName', 'lastName', 'limit', 'cursor', 'loginPrefix', 'user_id', 'first_name', 'last_name', '__proto__', 'constructor', 'prototype']
const paramName = fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...PARAM_NAMES) }, { weight: 1, arbitrary: hostileText })
const params = fc.oneof(
  { weight: 4, arbitrary: fc.dictionary(paramName, jsonish, { maxKeys: 4 }) },
  { weight: 2, arbitrary: fc.array(jsonish, { maxLength: 4 }) },
  { weight: 1, arbitrary: jsonish }
)
const id = fc.oneof(
  { weight: 4, arbitrary: fc.oneof(numbers, hostileText, fc.constant(null)) },
  { weight: 1, arbitrary: fc.oneof(fc.boolean(), fc.array(fc.integer(), { maxLength: 2 }), fc.object({ maxDepth: 1 })) }
)
/** Mostly requests a client might send, each member sometimes missing or of a wrong kind. */
const envelope = fc.record({
  jsonrpc: fc.oneof({ weight: 8, arbitrary: fc.constant('2.0') }, { weight: 1, arbitrary: jsonish }),
  method: fc.oneof({ weight: 8, arbitrary: method }, { weight: 1, arbitrary: jsonish }),
  params,
  id,
  extra: jsonish,
}, { requiredKeys: ['jsonrpc', 'method'] }).map(({ extra, ...members }) => extra === undefined ? members : { ...members, [typeof extra === 'string' ? extra : 'x-extra']: extra })

// ---- the JSON-RPC 2.0 specification as an oracle ---------------------------------------

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)
const isValidId = (value: unknown) => typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value)) || value === null

/** What section 4 says of one member: answered (with which id), or a notification. */
function expectation (member: unknown): { answered: false } | { answered: true, id: unknown, valid: boolean } {
  if (!isObject(member)) return { answered: true, id: null, valid: false }
  const hasId = Object.hasOwn(member, 'id')
  if (hasId && !isValidId(member.id)) return { answered: true, id: null, valid: false }
  const valid = member.jsonrpc === '2.0' && typeof member.method === 'string' &&
    (!Object.hasOwn(member, 'params') || typeof member.params === 'object') && member.params !== null &&
    !Object.hasOwn(member, 'result') && !Object.hasOwn(member, 'error')
  if (valid && !hasId) return { answered: false }
  // JSON carries numbers as text: the id comes back as JSON.parse reads what was sent.
  return { answered: true, id: hasId ? JSON.parse(JSON.stringify(member.id)) : null, valid }
}

function checkAgainstSpec (generated: unknown, json: any, status: number) {
  // Judge what went over the wire, not the generated value: JSON.stringify turns -Infinity and
  // NaN into null and leaves undefined members out.
  const sent: unknown = JSON.parse(JSON.stringify(generated))
  const members = Array.isArray(sent) ? sent : [sent]
  const expected = members.map(expectation)
  const answeredIds = expected.flatMap((one) => one.answered ? [one.id] : [])
  if (Array.isArray(sent) && (sent.length === 0 || sent.length > 100)) {
    expect(json).toMatchObject({ id: null, error: { code: -32600 } })
    return
  }
  if (answeredIds.length === 0) {
    expect(status).toBe(204)
    return
  }
  const responses = Array.isArray(sent) ? json : [json]
  expect(Array.isArray(responses), 'a batch is answered with an array').toBe(true)
  expect(responses.map((response: { id: unknown }) => response.id).sort(byJson)).toEqual(answeredIds.sort(byJson))
  for (const [index, one] of expected.entries()) {
    if (!one.answered || one.valid) continue
    // An invalid request is -32600 (its own id when it had a valid one).
    const response = Array.isArray(sent) ? responses.find((candidate: { id: unknown, error?: { code: number } }) => candidate.error?.code === -32600 && JSON.stringify(candidate.id) === JSON.stringify(one.id)) : responses[0]
    expect(response?.error?.code, `member ${index}`).toBe(-32600)
  }
}

const byJson = (a: unknown, b: unknown) => JSON.stringify(a).localeCompare(JSON.stringify(b))

// ---- properties ------------------------------------------------------------------------

describe('hostile input, property by property', () => {
  it('when the body is arbitrary bytes, then the answer is well-formed, and -32700 unless the bytes are UTF-8 JSON', async () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.tuple(fc.constantFrom('{"jsonrpc":"2.0","method":"user.get","params":{"id":', '[{"jsonrpc":"2.0",', '"', '{'), fc.uint8Array({ maxLength: 40 }))
        .map(([start, tail]) => Buffer.concat([Buffer.from(start), tail])),
      hostileText.map((text) => Buffer.from(text, 'utf8')),
      // Well-formed JSON around raw bytes in a string: UTF-8 or not, control bytes or not.
      fc.tuple(fc.constantFrom('user.create', 'user.getByLogin'), fc.uint8Array({ minLength: 1, maxLength: 6 }))
        .map(([name, raw]) => Buffer.concat([Buffer.from(`{"jsonrpc":"2.0","method":"${name}","params":{"login":"x`), raw, Buffer.from('"},"id":1}')]))
    )
    await fc.assert(fc.asyncProperty(bytes, async (body) => {
      const { json } = await answered(Buffer.from(body))
      let parsed = true
      try {
        if (!isUtf8(body)) throw new Error('not UTF-8')
        JSON.parse(Buffer.from(body).toString('utf8').replace(/^\ufeff/, ''))
      } catch {
        parsed = false
      }
      if (!parsed) expect(json).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } })
    }), propertyRuns(300))
  }, 120_000)

  it('when the body is any JSON value, then the answer is what the specification says', async () => {
    await fc.assert(fc.asyncProperty(fc.jsonValue({ maxDepth: 4 }), async (value) => {
      const { answer, json } = await answered(JSON.stringify(value))
      checkAgainstSpec(value, json, answer.status)
    }), propertyRuns(200))
  }, 120_000)

  it('when the body is an arbitrary request (members missing, of wrong kinds, hostile params and ids), then the answer is what the specification says', async () => {
    await fc.assert(fc.asyncProperty(envelope, async (request) => {
      const { answer, json } = await answered(JSON.stringify(request))
      checkAgainstSpec(request, json, answer.status)
    }), propertyRuns(300))
  }, 120_000)

  it('when the body is a batch of arbitrary requests and values, then each member is answered as the specification says', async () => {
    const batch = fc.array(fc.oneof({ weight: 4, arbitrary: envelope }, { weight: 1, arbitrary: jsonish }), { maxLength: 8 })
    await fc.assert(fc.asyncProperty(batch, async (members) => {
      const { answer, json } = await answered(JSON.stringify(members))
      checkAgainstSpec(members, json, answer.status)
    }), propertyRuns(100))
  }, 120_000)

  it('when valid params are generated the same way, then what is created is what user.get, getByLogin and get_user return, and an update round-trips too', async () => {
    const tag = Math.random().toString(36).slice(2, 7)
    let serial = 0
    const storable = fc.string({ unit: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }).filter((char) => !/\p{Cc}/u.test(char)), maxLength: 30 })
    const name = fc.option(storable, { nil: null })
    const user = fc.record({
      suffix: fc.string({ unit: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }).filter((char) => !/\p{Cc}/u.test(char)), maxLength: 20 }),
      firstName: fc.option(name, { nil: undefined }),
      lastName: fc.option(name, { nil: undefined }),
      positional: fc.boolean(),
      renamed: name,
    })
    const rpc = async (method: string, params: unknown) => {
      const { json } = await answered(JSON.stringify({ jsonrpc: '2.0', method, params, id: 1 }))
      if (json.error) throw new Error(`${method} answered ${JSON.stringify(json.error)}`)
      return json.result
    }
    await fc.assert(fc.asyncProperty(user, async ({ suffix, firstName, lastName, positional, renamed }) => {
      // Unique per run, so no login is taken; whatever follows is arbitrary.
      const login = `${tag}${++serial}-${suffix}`
      const created = await rpc('user.create', positional
        ? [login, firstName ?? null, lastName ?? null]
        : { login, ...(firstName === undefined ? {} : { firstName }), ...(lastName === undefined ? {} : { lastName }) })
      expect(created).toMatchObject({ login, firstName: firstName ?? null, lastName: lastName ?? null })
      expect(await rpc('user.get', { id: created.id })).toEqual(created)
      expect(await rpc('user.getByLogin', [login])).toEqual(created)
      expect(await rpc('get_user', [created.id])).toEqual({ user_id: created.id, login, first_name: created.firstName, last_name: created.lastName })
      const updated = await rpc('user.update', { id: created.id, lastName: renamed })
      expect(updated).toMatchObject({ id: created.id, login, firstName: created.firstName, lastName: renamed })
      expect(await rpc('user.get', [created.id])).toEqual(updated)
    }), propertyRuns(60))
  }, 120_000)
})

// ---- the classics, by name -------------------------------------------------------------

const request = (method: string, params: string, id = '1') => `{"jsonrpc":"2.0","method":"${method}","params":${params},"id":${id}}`

describe('hostile input, the classic cases', () => {
  it('when JSON is nested 100,000 deep (arrays, objects, inside params), then each gets a well-formed answer at once', async () => {
    const depth = 100_000
    const arrays = await answered('['.repeat(depth) + ']'.repeat(depth))
    expect(arrays.json).toEqual([{ jsonrpc: '2.0', id: null, error: expect.objectContaining({ code: -32600 }) }])
    const objects = await answered('{"a":'.repeat(depth / 2) + '1' + '}'.repeat(depth / 2))
    expect(objects.json).toMatchObject({ id: null, error: { code: -32600 } })
    const inParams = await answered(request('user.create', `{"login":${'['.repeat(depth)}${']'.repeat(depth)}}`))
    expect(inParams.json.error).toMatchObject({ code: -32602, data: { issues: [{ path: ['login'] }] } })
    const inId = await answered(`{"jsonrpc":"2.0","method":"user.get","params":{"id":1},"id":${'{"a":'.repeat(depth / 2)}1${'}'.repeat(depth / 2)}}`)
    expect(inId.json).toMatchObject({ id: null, error: { code: -32600 } })
  })

  it('when numbers go beyond 2^53 or come in exponent form, then ids echo as JSON reads them and params are judged by value', async () => {
    expect((await answered(request('user.get', '{"id":2147483647}', '9007199254740993'))).json.id).toBe(9007199254740992)
    expect((await answered(request('user.get', '{"id":2147483647}', '1e2'))).json.id).toBe(100)
    expect((await answered(request('user.get', '{"id":2147483647}', '-0'))).json.id).toBe(0)
    expect((await answered(request('user.get', '{"id":1}', '1e400'))).json).toMatchObject({ id: null, error: { code: -32600 } })
    const beyond = (await answered(request('user.get', '{"id":9007199254740993}'))).json.error
    expect(beyond.code).toBe(-32602)
    expect(beyond.data.issues).toContainEqual({ path: ['id'], message: 'id must be at most 2147483647' })
    expect((await answered(request('user.get', '{"id":2.147483647E9}'))).json.error).toEqual({ code: -32004, message: 'User not found', data: { id: 2147483647 } })
    expect((await answered(request('user.get', '{"id":1E400}'))).json.error.code).toBe(-32602)
    expect((await answered(request('user.get', '{"id":15e-1}'))).json.error.code).toBe(-32602)
    expect((await answered(request('user.list', '{"limit":1e1}'))).json.result.items.length).toBeLessThanOrEqual(10)
  })

  it('when a member name appears twice, then the last one counts, in the envelope and in params', async () => {
    const envelope = await answered('{"jsonrpc":"2.0","method":"user.getByLogin","method":"user.get","params":{"id":2147483647},"id":1}')
    expect(envelope.json.error).toEqual({ code: -32004, message: 'User not found', data: { id: 2147483647 } })
    const inParams = await answered(request('user.get', '{"id":"one","id":2147483647}'))
    expect(inParams.json.error.data).toEqual({ id: 2147483647 })
    const ids = await answered(request('user.get', '{"id":2147483647}', '1,"id":"second"'))
    expect(ids.json.id).toBe('second')
  })

  it('when text carries NUL or lone surrogates, escaped or as raw bytes, then it is refused and never stored', async () => {
    expect((await answered(request('user.create', '{"login":"a\\u0000b"}'))).json.error.data.issues).toEqual([{ path: ['login'], message: 'login must not contain control characters' }])
    expect((await answered(request('user.create', '{"login":"\\ud800"}'))).json.error.data.issues).toEqual([{ path: ['login'], message: 'login must be valid Unicode' }])
    expect((await answered(request('user.create', '{"login":"ok","lastName":"\\udc00x"}'))).json.error.data.issues).toEqual([{ path: ['lastName'], message: 'name must be valid Unicode' }])
    expect((await answered(request('user.get\\u0000', '{"id":1}'))).json.error.code).toBe(-32601)
    // An id is echoed whatever it holds; JSON.stringify escapes a lone surrogate.
    const echoed = await answered(request('user.get', '{"id":2147483647}', '"\\ud800\\u0000"'))
    expect(echoed.answer.body).toContain('"id":"\\ud800\\u0000"')
    // Raw bytes: a NUL inside a string is not JSON; a surrogate encoded in UTF-8 (ED A0 80)
    // or a stray 0xFF is not UTF-8. Both are parse errors, never a login with U+FFFD in it.
    const parseError = { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } }
    const prefix = `raw${Math.random().toString(36).slice(2, 8)}`
    for (const raw of [Buffer.from([0x00]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xff])]) {
      const body = Buffer.concat([Buffer.from(`{"jsonrpc":"2.0","method":"user.create","params":{"login":"${prefix}`), raw, Buffer.from('"},"id":1}')])
      expect((await answered(body)).json).toEqual(parseError)
    }
    const found = await answered(request('user.list', `{"loginPrefix":"${prefix}"}`))
    expect(found.json.result.items).toEqual([])
  })

  it('when ids sit at and beyond int4, then user ids beyond it are -32602 and request ids are echoed whole', async () => {
    expect((await answered(request('user.get', '[2147483647]'))).json.error.code).toBe(-32004)
    for (const beyond of ['2147483648', '-2147483648', '0', '-1']) {
      expect((await answered(request('user.get', `[${beyond}]`))).json.error, beyond).toMatchObject({ code: -32602, data: { issues: [{ path: ['id'] }] } })
    }
    for (const echoed of [2147483647, 2147483648, -2147483648, -2147483649, 2 ** 53]) {
      expect((await answered(request('user.get', '[2147483647]', String(echoed)))).json.id).toBe(echoed)
    }
  })

  it('when the body is exactly RPC_BODY_LIMIT_BYTES, then it is served; one byte more is 413 with a JSON-RPC body', async () => {
    const limit = 262_144
    const call = request('user.get', '{"id":2147483647}')
    const atLimit = call + ' '.repeat(limit - Buffer.byteLength(call))
    expect(Buffer.byteLength(atLimit)).toBe(limit)
    expect((await answered(atLimit)).json.error.code).toBe(-32004)
    const over = await answered(atLimit + ' ')
    expect(over.answer.status).toBe(413)
    expect(over.json).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Request body too large', data: { reason: `the body is over ${limit} bytes` } } })
  })

  it('when a body over the limit comes chunked, with no length given, then it is cut off with 413 too', async () => {
    const chunk = Buffer.alloc(64 * 1024, 0x20)
    const head = 'POST /rpc HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n'
    const chunks = Array.from({ length: 5 }, () => Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]))
    const answer = await exchange(port, Buffer.concat([Buffer.from(head), ...chunks, Buffer.from('0\r\n\r\n')]))
    expect(answerProblem(answer)).toBeNull()
    expect(answer.status).toBe(413)
  })

  it('when a batch holds RPC_BATCH_MAX members, then each is answered; one more, and one -32600 says so', async () => {
    const members = (count: number) => `[${Array.from({ length: count }, (_, index) => request('user.get', '{"id":2147483647}', String(index))).join(',')}]`
    const full = await answered(members(100))
    expect(full.json).toHaveLength(100)
    expect(new Set(full.json.map((response: { id: number }) => response.id)).size).toBe(100)
    const over = await answered(members(101))
    expect(over.json).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Invalid Request', data: { reason: 'a batch of 101 requests is over the limit of 100' } } })
  })
})

describe('after all of it', () => {
  it('when the hostile input is over, then the same process still serves: health, and a create that reads back', async () => {
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200)
    const { json } = await answered(request('user.create', `{"login":"survivor-${Date.now()}"}`))
    expect((await answered(request('user.get', `{"id":${json.result.id}}`))).json.result).toEqual(json.result)
  })
})
