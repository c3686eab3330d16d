import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, post, uniqueLogin, type App } from './helpers.js'
import { methodCall, postXml, readResponse, text } from './xmlrpc-helpers.js'

let app: App
beforeAll(async () => { app = await buildTestApp({ XMLRPC_PATH: '/xmlrpc' }) })
afterAll(async () => { await app.close() })

/** What Object.prototype looks like before any hostile body: names and descriptors. */
const pristine = Object.getOwnPropertyDescriptors(Object.prototype)

// Every test checks, in this very process, that nothing reached a prototype.
afterEach(() => {
  expect(Object.getOwnPropertyDescriptors(Object.prototype)).toEqual(pristine)
  const probe = {} as Record<string, unknown>
  for (const name of ['polluted', 'isAdmin', 'jsonrpc', 'method', 'login']) expect(probe[name], name).toBeUndefined()
  expect(Object.getPrototypeOf(probe)).toBe(Object.prototype)
})

/** A payload that would mark every object if anything merged it into a prototype. */
const POISON = '{"polluted": "yes", "isAdmin": true}'
const PROTOTYPE_KEYS = ['__proto__', 'constructor', 'prototype']

const rpcBody = (method: string, params: string, id = 1) => `{"jsonrpc": "2.0", "method": "${method}", "params": ${params}, "id": ${id}}`

describe('prototype keys are unknown names like any other', () => {
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

describe('the XML-RPC bridge says the same', () => {
  it.each(PROTOTYPE_KEYS)('when a struct member is named %s, then the fault is -32602, as over JSON-RPC', async (key) => {
    const struct = `<value><struct><member><name>login</name>${text(uniqueLogin('xproto'))}</member><member><name>${key}</name>${text('x')}</member></struct></value>`
    const answer = await readResponse((await postXml(app, methodCall('user.create', struct), {}, '/xmlrpc')).body)
    expect(answer).toEqual({ fault: { faultCode: -32602, faultString: 'Invalid params' } })
  })
})
