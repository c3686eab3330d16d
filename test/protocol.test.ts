import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, fetchRpc, listen, post, request, type TestApp } from './support/clients.js'
import { countUsers, uniqueLogin } from './support/database.js'

/**
 * docs/api.md, Protocol details (JSON-RPC 2.0 rules, batches, HTTP around them), and from
 * docs/reliability.md: unknown names are invalid, prototype keys included, with no pollution.
 */

let app: TestApp
beforeAll(async () => { app = await buildTestApp() })
afterAll(async () => { await app.close() })

const invalid = (id: unknown = null) => ({ jsonrpc: '2.0', id, error: expect.objectContaining({ code: -32600, message: 'Invalid Request' }) })

/** JSON-RPC 2.0 section 4-6 rules, one row each: the raw body and the exact answer. */
const singleCases: Array<{ when: string, body: string, answer: unknown }> = [
  { when: 'the body is not JSON', body: '{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]', answer: { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } } },
  { when: 'the body is empty', body: '', answer: { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } } },
  { when: 'the body is null', body: 'null', answer: invalid() },
  { when: 'the body is a number', body: '5', answer: invalid() },
  { when: 'the body is a string', body: '"x"', answer: invalid() },
  { when: 'the body is true', body: 'true', answer: invalid() },
  { when: 'method is a number (spec 7)', body: '{"jsonrpc": "2.0", "method": 1, "params": "bar"}', answer: invalid() },
  { when: 'jsonrpc is missing', body: '{"method": "user.get", "params": {"id": 1}, "id": 3}', answer: invalid(3) },
  { when: 'jsonrpc is "1.0"', body: '{"jsonrpc": "1.0", "method": "user.get", "params": {"id": 1}, "id": 3}', answer: invalid(3) },
  { when: 'id is an object', body: '{"jsonrpc": "2.0", "method": "user.get", "params": {"id": 1}, "id": {"a": 1}}', answer: invalid(null) },
  { when: 'id is a boolean', body: '{"jsonrpc": "2.0", "method": "user.get", "params": {"id": 1}, "id": true}', answer: invalid(null) },
  { when: 'id is an array', body: '{"jsonrpc": "2.0", "method": "user.get", "params": {"id": 1}, "id": [1]}', answer: invalid(null) },
  { when: 'params is a number', body: '{"jsonrpc": "2.0", "method": "user.get", "params": 5, "id": 4}', answer: invalid(4) },
  { when: 'params is a string', body: '{"jsonrpc": "2.0", "method": "user.get", "params": "x", "id": 4}', answer: invalid(4) },
  { when: 'params is null', body: '{"jsonrpc": "2.0", "method": "user.get", "params": null, "id": 4}', answer: invalid(4) },
  { when: 'the method does not exist (spec 7)', body: '{"jsonrpc": "2.0", "method": "foobar", "id": "1"}', answer: { jsonrpc: '2.0', id: '1', error: { code: -32601, message: 'Method not found' } } },
  { when: 'a reserved rpc.* name is not served', body: '{"jsonrpc": "2.0", "method": "rpc.secret", "id": 9}', answer: { jsonrpc: '2.0', id: 9, error: { code: -32601, message: 'Method not found' } } },
  { when: 'a method name is an inherited object key', body: '{"jsonrpc": "2.0", "method": "toString", "id": 9}', answer: { jsonrpc: '2.0', id: 9, error: { code: -32601, message: 'Method not found' } } },
  { when: 'id is null, it is still a request', body: '{"jsonrpc": "2.0", "method": "user.get", "params": {"id": 2147483647}, "id": null}', answer: { jsonrpc: '2.0', id: null, error: { code: -32004, message: 'User not found', data: { id: 2147483647 } } } },
  { when: 'id is a string', body: '{"jsonrpc": "2.0", "method": "user.get", "params": [2147483647], "id": "abc"}', answer: { jsonrpc: '2.0', id: 'abc', error: { code: -32004, message: 'User not found', data: { id: 2147483647 } } } },
  { when: 'id is a fraction', body: '{"jsonrpc": "2.0", "method": "user.get", "params": [2147483647], "id": 1.5}', answer: { jsonrpc: '2.0', id: 1.5, error: { code: -32004, message: 'User not found', data: { id: 2147483647 } } } },
]

describe('the same rules over a real socket', () => {
  let url: string
  let server: TestApp
  beforeAll(async () => {
    server = await buildTestApp()
    url = `${await listen(server)}/rpc`
  })
  afterAll(async () => { await server.close() })

  const send = async (body: string) => {
    const { status, body: answer } = await fetchRpc(url, body)
    return { status, body: answer }
  }

  it.each(singleCases)('when $when, then fetch gets the same exact answer', async ({ body, answer }) => {
    expect(await send(body)).toEqual({ status: 200, body: answer })
  })

  it.each([
    ['[]', 200, invalid()],
    ['[1,2,3]', 200, [invalid(), invalid(), invalid()]],
    [JSON.stringify([request('user.get', { id: 2147483647 }, 1)]), 200, [{ jsonrpc: '2.0', id: 1, error: { code: -32004, message: 'User not found', data: { id: 2147483647 } } }]],
    [JSON.stringify([request('user.get', { id: 1 })]), 204, null],
    [JSON.stringify(request('user.get', { id: 1 })), 204, null],
  ])('when the body is %s, then fetch gets HTTP %i and the exact answer', async (body, status, answer) => {
    expect(await send(body)).toEqual({ status, body: answer })
  })
})

describe('single requests', () => {
  it.each(singleCases)('when $when, then the answer is exact', async ({ body, answer }) => {
    const response = await post(app, body)
    expect(response.status).toBe(200)
    expect(response.headers['content-type']).toMatch(/^application\/json/)
    expect(response.body).toEqual(answer)
  })

  it('when an invalid request says why, then data.reason names the rule', async () => {
    const { body } = await post(app, '{"jsonrpc": "2.0", "method": "user.get", "id": {}}')
    expect(body.error.data.reason).toBe('id must be a string, a number or null')
  })

  it('when a request has no id, then it is a notification and nothing is sent, even on failure', async () => {
    for (const body of [
      JSON.stringify(request('user.get', { id: 2147483647 })),
      JSON.stringify(request('no.such.method')),
      JSON.stringify(request('user.get', { id: 'not a number' })),
    ]) {
      const response = await post(app, body)
      expect(response.status).toBe(204)
      expect(response.body).toBeNull()
    }
  })

  it('when a notification creates a user, then the write happens though nothing is answered', async () => {
    const login = uniqueLogin('notify')
    const response = await post(app, JSON.stringify(request('user.create', { login })))
    expect(response.status).toBe(204)
    expect(await countUsers(login)).toBe(1)
  })

  it('when a response succeeds, then it has result and no error, and the other way round', async () => {
    const ok = await post(app, JSON.stringify(request('user.create', { login: uniqueLogin() }, 1)))
    expect(Object.keys(ok.body).sort()).toEqual(['id', 'jsonrpc', 'result'])
    const failed = await post(app, JSON.stringify(request('user.get', { id: 2147483647 }, 2)))
    expect(Object.keys(failed.body).sort()).toEqual(['error', 'id', 'jsonrpc'])
  })
})

describe('batches', () => {
  it('when the batch is empty, then the answer is one -32600 object', async () => {
    const { status, body } = await post(app, '[]')
    expect(status).toBe(200)
    expect(body).toEqual(invalid())
  })

  it('when the batch holds non-requests (spec 7: [1,2,3]), then each gets its own -32600', async () => {
    const { body } = await post(app, '[1,2,3]')
    expect(body).toEqual([invalid(), invalid(), invalid()])
  })

  it('when the batch is [null], then it is one -32600, not a crash', async () => {
    const { body } = await post(app, '[null]')
    expect(body).toEqual([invalid()])
  })

  it('when the batch holds one request, then the answer is an array of one', async () => {
    const { body } = await post(app, JSON.stringify([request('user.get', { id: 2147483647 }, 1)]))
    expect(Array.isArray(body)).toBe(true)
    expect(body).toHaveLength(1)
    expect(body[0].error.code).toBe(-32004)
  })

  it('when every member is a notification, then nothing is sent', async () => {
    const response = await post(app, JSON.stringify([request('user.get', { id: 1 }), request('nothing.here')]))
    expect(response.status).toBe(204)
    expect(response.body).toBeNull()
  })

  it('when members mix (spec 7), then each is answered on its own and notifications are left out', async () => {
    const login = uniqueLogin('batch')
    const batch = [
      request('user.create', { login }, '1'),
      request('user.create', { login: uniqueLogin('n') }),
      request('user.get', { id: 'x' }, '2'),
      { foo: 'boo' },
      request('foo.get', { name: 'myself' }, '5'),
      request('user.getByLogin', { login }, '9'),
    ]
    const { body } = await post(app, JSON.stringify(batch))
    expect(body).toHaveLength(5)
    const byId = new Map(body.map((response: { id: unknown }) => [response.id, response]))
    expect(byId.get('1')).toMatchObject({ result: { login } })
    expect(byId.get('2')).toMatchObject({ error: { code: -32602 } })
    expect(byId.get(null)).toMatchObject({ error: { code: -32600 } })
    expect(byId.get('5')).toMatchObject({ error: { code: -32601 } })
    expect(byId.get('9')).toMatchObject({ result: { login } })
  })

  it('when one member fails, then the others still commit', async () => {
    const taken = uniqueLogin('taken')
    const fresh = uniqueLogin('fresh')
    await post(app, JSON.stringify(request('user.create', { login: taken }, 0)))
    const { body } = await post(app, JSON.stringify([
      request('user.create', { login: taken }, 1),
      request('user.create', { login: fresh }, 2),
    ]))
    expect(body.find((r: { id: number }) => r.id === 1).error.code).toBe(-32009)
    expect(body.find((r: { id: number }) => r.id === 2).result.login).toBe(fresh)
    expect(await countUsers(fresh)).toBe(1)
  })
})

describe('HTTP transport', () => {
  it.each(['GET', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const)('when the HTTP method is %s, then 405 with Allow: POST and a JSON-RPC body with the reason', async (method) => {
    const response = await app.inject({ method, url: '/rpc', headers: { 'content-type': 'application/json' }, payload: method === 'GET' || method === 'OPTIONS' ? undefined : '{}' })
    expect(response.statusCode).toBe(405)
    expect(response.headers.allow).toBe('POST')
    expect(response.json()).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Method Not Allowed: use POST', data: { reason: 'the HTTP method must be POST' } } })
  })

  it('when the content type is not JSON, then 415 with a JSON-RPC body with the reason', async () => {
    const response = await post(app, JSON.stringify(request('user.get', { id: 1 }, 1)), { 'content-type': 'text/plain' })
    expect(response.status).toBe(415)
    expect(response.body).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Unsupported Media Type: send Content-Type: application/json', data: { reason: 'the content type must be application/json' } } })
  })

  it('when the content type has a charset, then it is accepted', async () => {
    const response = await post(app, JSON.stringify(request('user.get', { id: 2147483647 }, 1)), { 'content-type': 'application/json; charset=utf-8' })
    expect(response.status).toBe(200)
    expect(response.body.error.code).toBe(-32004)
  })
})

/** What Object.prototype looks like before any hostile body: names and descriptors. */
const pristine = Object.getOwnPropertyDescriptors(Object.prototype)

// Every test below checks, in this very process, that nothing reached a prototype.
const expectNoPollution = () => {
  expect(Object.getOwnPropertyDescriptors(Object.prototype)).toEqual(pristine)
  const probe = {} as Record<string, unknown>
  for (const name of ['polluted', 'isAdmin', 'jsonrpc', 'method', 'login']) expect(probe[name], name).toBeUndefined()
  expect(Object.getPrototypeOf(probe)).toBe(Object.prototype)
}

/** A payload that would mark every object if anything merged it into a prototype. */
const POISON = '{"polluted": "yes", "isAdmin": true}'
const PROTOTYPE_KEYS = ['__proto__', 'constructor', 'prototype']

const rpcBody = (method: string, params: string, id = 1) => `{"jsonrpc": "2.0", "method": "${method}", "params": ${params}, "id": ${id}}`

describe('prototype keys are unknown names like any other', () => {
  afterEach(expectNoPollution)

  it.each(PROTOTYPE_KEYS)('when user.create params carry %s, then -32602 names it as an unknown param and no user is created', async (key) => {
    const login = uniqueLogin('proto')
    const value = key === 'constructor' ? `{"prototype": ${POISON}}` : POISON
    const { status, body } = await post(app, rpcBody('user.create', `{"login": "${login}", "${key}": ${value}}`))
    expect(status).toBe(200)
    expect(body).toEqual({
      jsonrpc: '2.0',
      id: 1,
      error: { code: -32602, message: 'Invalid params', data: { issues: [{ path: [key], message: 'unknown param' }] } },
    })
    // The same answer as for a name nobody would suspect.
    const plain = await post(app, rpcBody('user.create', `{"login": "${login}", "nickname": ${value}}`))
    expect(plain.body.error.data.issues).toEqual([{ path: ['nickname'], message: 'unknown param' }])
    expect((await post(app, rpcBody('user.getByLogin', `{"login": "${login}"}`))).body.error.code).toBe(-32004)
  })

  it('when every method gets a __proto__ param beside valid ones, then each answers -32602 for it', async () => {
    const cases: Array<[string, string]> = [
      ['user.get', '{"id": 1'],
      ['user.getByLogin', '{"login": "x"'],
      ['user.update', '{"id": 1, "firstName": "x"'],
      ['user.delete', '{"id": 1'],
      ['user.list', '{"limit": 1'],
      ['create_user', '{"login": "x"'],
      ['get_user', '{"user_id": 1'],
    ]
    for (const [method, start] of cases) {
      const { body } = await post(app, rpcBody(method, `${start}, "__proto__": ${POISON}}`))
      expect(body.error, method).toMatchObject({ code: -32602, data: { issues: [{ path: ['__proto__'], message: 'unknown param' }] } })
    }
  })

  it('when __proto__ tries to supply a required param, then it supplies nothing', async () => {
    const { body } = await post(app, rpcBody('user.get', '{"__proto__": {"id": 1}}'))
    expect(body.error.code).toBe(-32602)
    expect(body.error.data.issues).toEqual(expect.arrayContaining([
      { path: ['__proto__'], message: 'unknown param' },
      expect.objectContaining({ path: ['id'] }),
    ]))
  })

  it('when a param value is an object with __proto__, then it is a wrong type, not a merge', async () => {
    const { body } = await post(app, rpcBody('user.create', `{"login": {"__proto__": ${POISON}}}`))
    expect(body.error).toMatchObject({ code: -32602, data: { issues: [{ path: ['login'], message: 'login must be a string' }] } })
  })
})

describe('prototype keys in the envelope are ignored like any other unknown member', () => {
  afterEach(expectNoPollution)

  it.each(PROTOTYPE_KEYS)('when a request carries %s beside its members, then the answer is the one without it', async (key) => {
    const members = '"jsonrpc": "2.0", "method": "user.get", "params": {"id": 2147483647}, "id": 7'
    const hostile = await post(app, `{${members}, "${key}": {"jsonrpc": "1.0", "method": "user.delete", "id": 8}}`)
    const other = await post(app, `{${members}, "extension": {"jsonrpc": "1.0", "method": "user.delete", "id": 8}}`)
    expect(hostile.body).toEqual({ jsonrpc: '2.0', id: 7, error: { code: -32004, message: 'User not found', data: { id: 2147483647 } } })
    expect(hostile.body).toEqual(other.body)
  })

  it('when the request members come only through __proto__, then it is not a request', async () => {
    const { body } = await post(app, '{"__proto__": {"jsonrpc": "2.0", "method": "user.get", "params": {"id": 1}, "id": 1}}')
    expect(body).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Invalid Request', data: { reason: 'jsonrpc must be exactly "2.0"' } } })
  })

  it('when batch members carry prototype keys, then each is judged alone', async () => {
    const { body } = await post(app, `[
      {"jsonrpc": "2.0", "method": "user.get", "params": {"id": 2147483647}, "id": 1, "__proto__": ${POISON}},
      {"jsonrpc": "2.0", "method": "user.get", "params": {"id": 1, "constructor": {"prototype": ${POISON}}}, "id": 2},
      {"__proto__": {"jsonrpc": "2.0", "method": "user.get", "id": 3}}
    ]`)
    expect(body).toEqual([
      { jsonrpc: '2.0', id: 1, error: { code: -32004, message: 'User not found', data: { id: 2147483647 } } },
      { jsonrpc: '2.0', id: 2, error: { code: -32602, message: 'Invalid params', data: { issues: [{ path: ['constructor'], message: 'unknown param' }] } } },
      { jsonrpc: '2.0', id: null, error: expect.objectContaining({ code: -32600 }) },
    ])
  })
})
