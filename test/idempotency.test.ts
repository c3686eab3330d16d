import { randomUUID } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import { idempotencyRepository } from '../src/rpc/idempotency-repository.js'
import { call, endedAfterAll, post, request, type TestApp } from './support/clients.js'
import { countUsers, openSession, query, uniqueLogin, waitFor } from './support/database.js'
import { methodCall, postXml, readResponse, text } from './support/xmlrpc-client.js'

/** docs/retries.md, "Idempotency keys": a repeat of a write gets its first answer. */

const { service, kept } = endedAfterAll()

const WRITER = 'writer-secret-0123456789'
const OTHER_WRITER = 'other-secret-0123456789'

/** The stored key rows of one key, every caller's, from outside the service. */
const keyRows = (key: string) =>
  query<{ caller: string, method: string, result: unknown }>('SELECT caller, method, result FROM idempotency_keys WHERE key = $1 ORDER BY caller', [key])

/** Makes a stored key look `hours` old. */
const age = (key: string, hours: number) =>
  query('UPDATE idempotency_keys SET created_at = now() - make_interval(hours => $2) WHERE key = $1', [key, hours])

describe('idempotency keys on the JSON-RPC methods', () => {
  let app: TestApp
  beforeAll(async () => { app = await service() })

  it('when a create is sent twice with one key, then the second gets the first answer under its own id, and one user exists', async () => {
    const key = randomUUID()
    const login = uniqueLogin('idem')
    const first = await call(app, 'user.create', { login, firstName: 'Ada', idempotencyKey: key }, 1)
    const again = await call(app, 'user.create', { login, firstName: 'Ada', idempotencyKey: key }, 'retry-2')
    expect(first.body.result).toMatchObject({ login, firstName: 'Ada', version: 1 })
    expect(again.body).toEqual({ jsonrpc: '2.0', id: 'retry-2', result: first.body.result })
    expect(await countUsers(login)).toBe(1)
    expect(await keyRows(key)).toEqual([{ caller: '', method: 'user.create', result: first.body.result }])
  })

  it('when the repeat gives its params by position, in another order of members, then it is the same call', async () => {
    const key = randomUUID()
    const login = uniqueLogin('pos')
    const first = await call(app, 'user.create', { lastName: 'Hopper', firstName: null, login, idempotencyKey: key })
    const again = await call(app, 'user.create', [login, null, 'Hopper', key])
    expect(again.body.result).toEqual(first.body.result)
    expect(await countUsers(login)).toBe(1)
  })

  it('when an update is sent twice with one key, then it is applied once: the version moves by one', async () => {
    const created = (await call(app, 'user.create', { login: uniqueLogin() })).body.result
    const key = randomUUID()
    const first = await call(app, 'user.update', { id: created.id, firstName: 'Once', idempotencyKey: key })
    const again = await call(app, 'user.update', { id: created.id, firstName: 'Once', idempotencyKey: key })
    expect(first.body.result).toMatchObject({ firstName: 'Once', version: 2 })
    expect(again.body.result).toEqual(first.body.result)
    expect((await call(app, 'user.get', { id: created.id })).body.result.version).toBe(2)
  })

  it('when a delete is sent twice with one key, then the second gets the deleted user, not -32004', async () => {
    const created = (await call(app, 'user.create', { login: uniqueLogin() })).body.result
    const key = randomUUID()
    const first = await call(app, 'user.delete', { id: created.id, idempotencyKey: key })
    const again = await call(app, 'user.delete', { id: created.id, idempotencyKey: key })
    expect(first.body.result).toEqual(created)
    expect(again.body.result).toEqual(created)
  })

  it('when the key comes back with other params or another method, then -32012 with the key, and nothing is written', async () => {
    const key = randomUUID()
    const login = uniqueLogin('first')
    const created = (await call(app, 'user.create', { login, idempotencyKey: key })).body.result
    const otherLogin = uniqueLogin('other')
    const otherParams = await call(app, 'user.create', { login: otherLogin, idempotencyKey: key })
    const otherMethod = await call(app, 'user.delete', { id: created.id, idempotencyKey: key })
    const expected = { code: -32012, message: 'Idempotency key already used for another call', data: { idempotencyKey: key } }
    expect(otherParams.body.error).toEqual(expected)
    expect(otherMethod.body.error).toEqual(expected)
    expect(await countUsers(otherLogin)).toBe(0)
    expect((await call(app, 'user.get', { id: created.id })).body.result).toEqual(created)
  })

  it('when a keyed call fails, then no key is stored, and its retry runs again', async () => {
    const login = uniqueLogin('taken')
    const holder = (await call(app, 'user.create', { login })).body.result
    const key = randomUUID()
    const failed = await call(app, 'user.create', { login, firstName: 'Retry', idempotencyKey: key })
    expect(failed.body.error.code).toBe(-32009)
    expect(await keyRows(key)).toEqual([])
    await call(app, 'user.delete', { id: holder.id })
    const retried = await call(app, 'user.create', { login, firstName: 'Retry', idempotencyKey: key })
    expect(retried.body.result).toMatchObject({ login, firstName: 'Retry' })
    expect(await keyRows(key)).toHaveLength(1)
  })

  it('when 20 calls with one key arrive at once, then one user is created and all 20 get the same answer', async () => {
    const key = randomUUID()
    const login = uniqueLogin('burst')
    const answers = await Promise.all(Array.from({ length: 20 }, (_, index) =>
      call(app, 'user.create', { login, firstName: 'Burst', idempotencyKey: key }, index)))
    const first = answers[0]?.body.result
    expect(first).toMatchObject({ login, firstName: 'Burst' })
    answers.forEach((answer, index) => expect(answer.body).toEqual({ jsonrpc: '2.0', id: index, result: first }))
    expect(await countUsers(login)).toBe(1)
    expect(await keyRows(key)).toHaveLength(1)
  })

  it('when 20 updates with one key arrive at once, then the change is applied once', async () => {
    const created = (await call(app, 'user.create', { login: uniqueLogin() })).body.result
    const key = randomUUID()
    const answers = await Promise.all(Array.from({ length: 20 }, () =>
      call(app, 'user.update', { id: created.id, lastName: 'Burst', idempotencyKey: key })))
    for (const answer of answers) expect(answer.body.result).toMatchObject({ lastName: 'Burst', version: 2 })
    expect((await call(app, 'user.get', { id: created.id })).body.result.version).toBe(2)
  })

  it('when the key is empty, too long, or given to a read, then -32602 names it', async () => {
    const empty = await call(app, 'user.create', { login: uniqueLogin(), idempotencyKey: '' })
    const long = await call(app, 'user.create', { login: uniqueLogin(), idempotencyKey: 'k'.repeat(256) })
    const controls = await call(app, 'user.create', { login: uniqueLogin(), idempotencyKey: 'a\nb' })
    const onRead = await call(app, 'user.get', { id: 1, idempotencyKey: 'k' })
    for (const answer of [empty, long, controls, onRead]) {
      expect(answer.body.error.code).toBe(-32602)
      expect(answer.body.error.data.issues.map((issue: { path: unknown[] }) => issue.path)).toEqual([['idempotencyKey']])
    }
    const longest = 'é'.repeat(255)
    expect((await call(app, 'user.create', { login: uniqueLogin(), idempotencyKey: longest })).body.result).toBeDefined()
    expect(await keyRows(longest)).toHaveLength(1)
    await query('DELETE FROM idempotency_keys WHERE key = $1', [longest])
  })
})

describe('the Idempotency-Key header', () => {
  let app: TestApp
  beforeAll(async () => { app = await service({ XMLRPC_PATH: '/xmlrpc' }) })

  it('when a single call sends the header, then it acts as the param', async () => {
    const key = randomUUID()
    const login = uniqueLogin('hdr')
    const first = await call(app, 'user.create', { login }, 1, { 'idempotency-key': key })
    const again = await call(app, 'user.create', { login, idempotencyKey: key }, 2)
    expect(again.body.result).toEqual(first.body.result)
    expect(await countUsers(login)).toBe(1)
  })

  it('when it is a quoted Structured Field string (the IETF draft), then it is the same key as the bare one', async () => {
    const key = randomUUID()
    const login = uniqueLogin('sf')
    const first = await call(app, 'user.create', { login }, 1, { 'idempotency-key': `"${key}"` })
    const again = await call(app, 'user.create', { login }, 2, { 'idempotency-key': key })
    expect(again.body.result).toEqual(first.body.result)
    expect(await keyRows(key)).toHaveLength(1)
  })

  it('when both the header and the param are given, then the param wins', async () => {
    const headerKey = randomUUID()
    const paramKey = randomUUID()
    await call(app, 'user.create', { login: uniqueLogin(), idempotencyKey: paramKey }, 1, { 'idempotency-key': headerKey })
    expect(await keyRows(paramKey)).toHaveLength(1)
    expect(await keyRows(headerKey)).toEqual([])
  })

  it('when a batch sends the header, then the whole batch is -32600 and nothing runs', async () => {
    const login = uniqueLogin('batch')
    const answer = await post(app, [request('user.create', { login }, 1)], { 'idempotency-key': randomUUID() })
    expect(answer.body.error).toMatchObject({ code: -32600, data: { reason: expect.stringContaining('single call') } })
    expect(await countUsers(login)).toBe(0)
  })

  it.each([
    { when: 'empty', value: '' },
    { when: '256 characters', value: 'k'.repeat(256) },
    { when: 'a quoted string left open', value: '"abc' },
    { when: 'a quoted number', value: '"1" ; a=1"' },
  ])('when the header is $when, then HTTP 400 with -32600 naming it, and nothing runs', async ({ value }) => {
    const login = uniqueLogin('badhdr')
    const answer = await call(app, 'user.create', { login }, 1, { 'idempotency-key': value })
    expect(answer.status).toBe(400)
    expect(answer.body.error).toMatchObject({ code: -32600, data: { reason: expect.stringMatching(/^Idempotency-Key: /) } })
    expect(await countUsers(login)).toBe(0)
  })

  it('when the legacy create_user sends the header over JSON-RPC, then a repeat gets the first answer in the legacy shape', async () => {
    const key = randomUUID()
    const login = uniqueLogin('legacy')
    const first = await call(app, 'create_user', [login, 'Grace', 'Hopper'], 1, { 'idempotency-key': key })
    const again = await call(app, 'create_user', [login, 'Grace', 'Hopper'], 2, { 'idempotency-key': key })
    expect(Object.keys(first.body.result).sort()).toEqual(['first_name', 'last_name', 'login', 'user_id'])
    expect(again.body.result).toEqual(first.body.result)
    expect(await countUsers(login)).toBe(1)
  })

  it('when the legacy create_user sends the header over XML-RPC, then a repeat gets the first answer, and the key is the JSON-RPC one', async () => {
    const key = randomUUID()
    const login = uniqueLogin('xml')
    const body = methodCall('create_user', text(login), text('Grace'))
    const first = await readResponse((await postXml(app, body, { 'idempotency-key': key }, '/xmlrpc')).body)
    const again = await readResponse((await postXml(app, body, { 'idempotency-key': key }, '/xmlrpc')).body)
    expect(first).toMatchObject({ result: { login, first_name: 'Grace', last_name: null } })
    expect(again).toEqual(first)
    expect(await countUsers(login)).toBe(1)
    const viaJson = await call(app, 'create_user', [login, 'Grace'], 1, { 'idempotency-key': key })
    expect(viaJson.body.result).toEqual((first as { result: unknown }).result)
    const reused = await readResponse((await postXml(app, methodCall('create_user', text(uniqueLogin())), { 'idempotency-key': key }, '/xmlrpc')).body)
    expect(reused).toEqual({ fault: { faultCode: -32012, faultString: 'Idempotency key already used for another call' } })
  })
})

describe('keys belong to the caller', () => {
  let app: TestApp
  beforeAll(async () => { app = await service({ API_KEYS: `a:write:${WRITER},b:write:${OTHER_WRITER}` }) })
  const as = (secret: string) => ({ authorization: `Bearer ${secret}` })

  it('when two API keys use one idempotency key, then each gets its own call\'s answer, never the other\'s', async () => {
    const key = randomUUID()
    const loginA = uniqueLogin('a')
    const loginB = uniqueLogin('b')
    const byA = await call(app, 'user.create', { login: loginA, idempotencyKey: key }, 1, as(WRITER))
    const byB = await call(app, 'user.create', { login: loginB, idempotencyKey: key }, 1, as(OTHER_WRITER))
    expect(byA.body.result).toMatchObject({ login: loginA })
    expect(byB.body.result).toMatchObject({ login: loginB })
    const againByB = await call(app, 'user.create', { login: loginB, idempotencyKey: key }, 1, as(OTHER_WRITER))
    expect(againByB.body.result).toEqual(byB.body.result)
    expect((await keyRows(key)).map((row) => row.caller)).toEqual(['a', 'b'])
  })
})

describe('expiry', () => {
  it('when the service starts, then keys past the TTL are deleted in the background, and newer ones stay', async () => {
    const expired = [randomUUID(), randomUUID(), randomUUID()]
    const young = randomUUID()
    for (const key of [...expired, young]) {
      await query('INSERT INTO idempotency_keys (caller, key, method, params_digest, result) VALUES ($1, $2, $3, $4, $5)', ['sweep', key, 'user.create', Buffer.alloc(32), '{}'])
    }
    // Other files' services sweep past 24 hours: these keys are younger, so only this one's sweep removes them.
    for (const key of expired) await age(key, 3)
    await age(young, 1)
    await service({ IDEMPOTENCY_TTL_HOURS: '2' })
    await waitFor('the sweep', async () => (await keyRows(expired[2] as string)).length === 0 || undefined)
    for (const key of expired) expect(await keyRows(key)).toEqual([])
    expect(await keyRows(young)).toHaveLength(1)
    await query('DELETE FROM idempotency_keys WHERE key = $1', [young])
  })

  it('when a key is older than IDEMPOTENCY_TTL_HOURS, then it answers nothing: the call runs again and takes the key', async () => {
    // 1 hour here, and the key 2 hours old: other files' services (24 hours) leave it alone.
    const app = await service({ IDEMPOTENCY_TTL_HOURS: '1' })
    const key = randomUUID()
    await call(app, 'user.create', { login: uniqueLogin('old'), idempotencyKey: key })
    await age(key, 2)
    const login = uniqueLogin('new')
    const fresh = await call(app, 'user.create', { login, idempotencyKey: key })
    expect(fresh.body.result).toMatchObject({ login })
    const again = await call(app, 'user.create', { login, idempotencyKey: key })
    expect(again.body.result).toEqual(fresh.body.result)
  })

  it('when a call holds an expired key, then the sweep passes over it instead of waiting', async () => {
    const app: TestApp = await service({ IDEMPOTENCY_TTL_HOURS: '8760' })
    const held = randomUUID()
    const loose = randomUUID()
    const insertExpired = (key: string) =>
      query('INSERT INTO idempotency_keys (caller, key, method, params_digest, result, created_at) VALUES ($1, $2, $3, $4, $5, now() - interval \'72 hours\') ON CONFLICT DO NOTHING', ['sweep', key, 'user.create', Buffer.alloc(32), '{}'])
    const session = kept(await openSession())
    // Another file's service may sweep between the insert and the lock: insert until it is locked.
    await waitFor('an expired key held by a call', async () => {
      await insertExpired(held)
      return (await session.run('SELECT key FROM idempotency_keys WHERE caller = $1 AND key = $2 FOR UPDATE', ['sweep', held])).rowCount === 1 || undefined
    })
    await insertExpired(loose)
    const sweep = idempotencyRepository.deleteOlderChunk(app.db, new Date(Date.now() - 48 * 3_600_000), 1000)
    const outcome = await Promise.race([sweep.then(() => 'done'), new Promise((resolve) => setTimeout(resolve, 5000, 'waited'))])
    expect(outcome).toBe('done')
    expect(await keyRows(loose)).toEqual([])
    expect(await keyRows(held)).toHaveLength(1)
    await session.end('ROLLBACK')
    await query('DELETE FROM idempotency_keys WHERE key = $1', [held])
  })
})
