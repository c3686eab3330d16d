import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { methods } from '../src/app.js'
import { ConfigError, loadConfig } from '../src/config.js'
import { xmlRpcRefusals } from '../src/xmlrpc/xmlrpc-route.js'
import { buildTestApp, call, post, readMetric, request, type TestApp } from './support/clients.js'
import { countUsers, uniqueLogin } from './support/database.js'
import { int, methodCall, postXml, readResponse, text } from './support/xmlrpc-client.js'

/** docs/xmlrpc-migration.md: the bridge (src/xmlrpc/) through app.inject. */

const WRITER = 'writer-secret-0123456789abcdef'
const READER = 'reader-secret-0123456789abcdef'
const METRICS_TOKEN = 'scrape-token-xmlrpc-123'

/** The bridge on `/`, as an old ServerProxy("http://host:8000/") expects; open access. */
let app: TestApp
beforeAll(async () => { app = await buildTestApp({ XMLRPC_PATH: '/', METRICS_TOKEN }) })
afterAll(async () => { await app.close() })

const createUser = (login: string, ...names: string[]) => methodCall('create_user', text(login), ...names)

async function created (login: string, ...names: string[]) {
  const reading = await readResponse((await postXml(app, createUser(login, ...names))).body)
  if (!('result' in reading)) throw new Error(`create_user failed: ${JSON.stringify(reading)}`)
  return reading.result as { user_id: number, login: string, first_name: string | null, last_name: string | null }
}

describe('the XML-RPC bridge, off by default', () => {
  it('when XMLRPC_PATH is unset, then no XML-RPC route exists: POST / is 404 and /rpc answers as before', async () => {
    const plain = await buildTestApp()
    try {
      expect(plain.hasRoute({ method: 'POST', url: '/' })).toBe(false)
      const answer = await postXml(plain, methodCall('get_user', int(1)))
      expect(answer.status).toBe(404)
      expect((await call(plain, 'get_user', [2_147_483_600])).body.error.code).toBe(-32004)
    } finally {
      await plain.close()
    }
  })

  it('when XMLRPC_PATH is another path, then the bridge answers there and / stays 404', async () => {
    const elsewhere = await buildTestApp({ XMLRPC_PATH: '/RPC2' })
    try {
      expect((await postXml(elsewhere, methodCall('system.listMethods'))).status).toBe(404)
      const answer = await postXml(elsewhere, methodCall('get_user', int(2_147_483_600)), {}, '/RPC2')
      expect(await readResponse(answer.body)).toEqual({ fault: { faultCode: -32004, faultString: 'No such user' } })
    } finally {
      await elsewhere.close()
    }
  })

  it.each(['/rpc', '/metrics', 'RPC2', '/a b'])('when XMLRPC_PATH is %s, then the configuration is refused naming it', (path) => {
    expect(() => loadConfig({ XMLRPC_PATH: path })).toThrow(ConfigError)
    expect(() => loadConfig({ XMLRPC_PATH: path })).toThrow('XMLRPC_PATH')
  })
})

describe('the old service\'s calls over XML-RPC', () => {
  it('when create_user and get_user are called by position, then they answer the old struct, over HTTP 200 text/xml', async () => {
    const login = uniqueLogin('xml')
    const answer = await postXml(app, createUser(login, text('Ada & <Co>'), text('Łukasz 🙂')))
    expect(answer.status).toBe(200)
    expect(answer.headers['content-type']).toBe('text/xml; charset=utf-8')
    const { result: user } = await readResponse(answer.body) as { result: { user_id: number } }
    expect(user).toEqual({ user_id: expect.any(Number), login, first_name: 'Ada & <Co>', last_name: 'Łukasz 🙂' })

    const fetched = await postXml(app, methodCall('get_user', `<value><i4>${user.user_id}</i4></value>`))
    expect(await readResponse(fetched.body)).toEqual({ result: user })
    expect(await countUsers(login)).toBe(1)
  })

  it('when a result is encoded, then ids are <int>, text is an escaped <string>, and members keep the old names', async () => {
    const login = uniqueLogin('exact')
    const user = await created(login, text('A<&>B'), text('C'))
    const answer = await postXml(app, methodCall('get_user', int(user.user_id)))
    const member = (name: string, value: string) => `<member><name>${name}</name><value>${value}</value></member>`
    expect(answer.body).toBe('<?xml version="1.0" encoding="UTF-8"?>\n<methodResponse><params><param><value><struct>' +
      member('user_id', `<int>${user.user_id}</int>`) + member('login', `<string>${login}</string>`) +
      member('first_name', '<string>A&lt;&amp;&gt;B</string>') + member('last_name', '<string>C</string>') +
      '</struct></value></param></params></methodResponse>\n')
  })

  it('when get_user names a missing user, then the fault is -32004 "No such user" with HTTP 200', async () => {
    const answer = await postXml(app, methodCall('get_user', int(2_147_483_600)))
    expect(answer.status).toBe(200)
    expect(answer.headers['content-type']).toBe('text/xml; charset=utf-8')
    expect(await readResponse(answer.body)).toEqual({ fault: { faultCode: -32004, faultString: 'No such user' } })
  })

  it('when a login is taken, then the fault is -32009 and one row exists', async () => {
    const login = uniqueLogin('dup')
    await created(login)
    const answer = await postXml(app, createUser(login, text('Again')))
    expect(await readResponse(answer.body)).toEqual({ fault: { faultCode: -32009, faultString: 'Login already taken' } })
    expect(await countUsers(login)).toBe(1)
  })

  it('when a name is null, then <nil/> carries it both ways', async () => {
    const login = uniqueLogin('nil')
    const answer = await postXml(app, createUser(login, '<value><nil/></value>', text('Hopper')))
    expect(answer.body).toContain('<member><name>first_name</name><value><nil/></value></member>')
    expect(await readResponse(answer.body)).toEqual({ result: { user_id: expect.any(Number), login, first_name: null, last_name: 'Hopper' } })
  })

  it('when a value has no type element, then it is a string, as XML-RPC defines', async () => {
    const login = uniqueLogin('bare')
    const answer = await postXml(app, methodCall('create_user', `<value>${login}</value>`, '<value> Bare </value>'))
    expect(await readResponse(answer.body)).toMatchObject({ result: { login, first_name: ' Bare ' } })
  })

  it('when a value is a <double>, a <boolean>, CDATA or a date, then it is read as the type table says', async () => {
    const login = uniqueLogin('types')
    const read = async (body: string) => await readResponse((await postXml(app, body)).body)
    expect(await read(methodCall('create_user', `<value><string><![CDATA[${login}]]></string></value>`, text('<CDATA>')))).toMatchObject({ result: { login } })
    const list = (limit: string) => methodCall('user.list', `<value><struct><member><name>limit</name><value>${limit}</value></member><member><name>loginPrefix</name>${text(login)}</member></struct></value>`)
    expect(await read(list('<double>1.0</double>'))).toMatchObject({ result: { items: [{ login }], nextCursor: null } })
    expect(await read(list('<boolean>1</boolean>'))).toEqual({ fault: { faultCode: -32602, faultString: 'Invalid params' } })
    expect(await read(list('<boolean>2</boolean>'))).toEqual({ fault: { faultCode: -32600, faultString: 'Invalid Request: <boolean> must be 0 or 1, not "2"' } })
    expect(await read(list('<double>1e400</double>'))).toEqual({ fault: { faultCode: -32600, faultString: 'Invalid Request: <double> "1e400" is not a finite number' } })
    expect(await read(list('<dateTime.iso8601>20260101T12:00:00</dateTime.iso8601>'))).toEqual({ fault: { faultCode: -32600, faultString: 'Invalid Request: <dateTime.iso8601> values are not supported: no method takes one' } })
  })

  it('when a param has the wrong type, then the method\'s own validation answers -32602', async () => {
    const answer = await postXml(app, methodCall('get_user', text('1')))
    expect(await readResponse(answer.body)).toEqual({ fault: { faultCode: -32602, faultString: 'Invalid params' } })
  })
})

describe('the other methods over XML-RPC', () => {
  it('when the only param is a struct, then it is the named params, for any method', async () => {
    const login = uniqueLogin('named')
    const struct = (members: Record<string, string>) =>
      `<value><struct>${Object.entries(members).map(([name, value]) => `<member><name>${name}</name>${value}</member>`).join('')}</struct></value>`
    const made = await readResponse((await postXml(app, methodCall('user.create', struct({ login: text(login), firstName: text('Named') })))).body)
    expect(made).toMatchObject({ result: { login, firstName: 'Named', lastName: null } })
    const { id } = (made as { result: { id: number } }).result

    const legacy = await readResponse((await postXml(app, methodCall('get_user', struct({ user_id: int(id) })))).body)
    expect(legacy).toEqual({ result: { user_id: id, login, first_name: 'Named', last_name: null } })

    const cleared = await readResponse((await postXml(app, methodCall('user.update', struct({ id: int(id), firstName: '<value><nil/></value>' })))).body)
    expect(cleared).toMatchObject({ result: { id, firstName: null } })

    const page = await readResponse((await postXml(app, methodCall('user.list', struct({ loginPrefix: text(login) })))).body)
    expect(page).toMatchObject({ result: { items: [{ id, login }], nextCursor: null } })

    const unknown = await readResponse((await postXml(app, methodCall('get_user', struct({ __proto__: int(id) })))).body)
    expect(unknown).toEqual({ fault: { faultCode: -32602, faultString: 'Invalid params' } })
  })

  it('when system.listMethods, methodHelp and methodSignature are called, then they describe the method table', async () => {
    const list = await readResponse((await postXml(app, methodCall('system.listMethods'))).body)
    expect(list).toEqual({ result: [...Object.keys(methods), 'system.listMethods', 'system.methodHelp', 'system.methodSignature'] })

    const help = await readResponse((await postXml(app, methodCall('system.methodHelp', text('get_user')))).body)
    expect(help).toEqual({ result: expect.stringContaining('No such user') })

    const signature = async (name: string) => await readResponse((await postXml(app, methodCall('system.methodSignature', text(name)))).body)
    expect(await signature('get_user')).toEqual({ result: [['struct', 'int']] })
    expect(await signature('create_user')).toEqual({ result: [['struct', 'string', 'string', 'string']] })
    expect(await signature('no.such.method')).toEqual({ fault: { faultCode: -32601, faultString: 'Method not found' } })
  })

  it('when a method does not exist, then the fault is -32601', async () => {
    const answer = await postXml(app, methodCall('delete_everything', int(1)))
    expect(await readResponse(answer.body)).toEqual({ fault: { faultCode: -32601, faultString: 'Method not found' } })
  })
})

describe('who still calls over XML-RPC', () => {
  it('when calls arrive by both protocols, then metrics and the per-call log line say which transport, and which key', async () => {
    const names = ['xmlrpc', 'jsonrpc'].flatMap((transport) => [
      `rpc_calls_total{method="get_user",outcome="-32004",transport="${transport}"}`,
      `rpc_call_duration_seconds_count{method="get_user",transport="${transport}"}`,
    ])
    const read = () => Promise.all(names.map((name) => readMetric(app, name, METRICS_TOKEN)))
    const before = await read()
    await postXml(app, methodCall('get_user', int(2_147_483_601)))
    await call(app, 'get_user', [2_147_483_601])
    const after = await read()
    names.forEach((name, i) => expect((after[i] ?? 0) - (before[i] ?? 0), name).toBe(1))

    const keyed = await buildTestApp({ XMLRPC_PATH: '/', API_KEYS: `billing:write:${WRITER}` })
    try {
      await postXml(keyed, methodCall('get_user', int(2_147_483_601)), { authorization: `Bearer ${WRITER}` })
      await post(keyed, request('get_user', [1], 1), { authorization: `Bearer ${WRITER}` })
      const lines = keyed.logLines.filter((line) => line.msg === 'rpc call')
      expect(lines).toEqual([
        expect.objectContaining({ rpcMethod: 'get_user', transport: 'xmlrpc', keyId: 'billing' }),
        expect.objectContaining({ rpcMethod: 'get_user', transport: 'jsonrpc', keyId: 'billing' }),
      ])
    } finally {
      await keyed.close()
    }
  })

  it('when a body is refused before it is a call, then the log line says why', async () => {
    await postXml(app, '<methodCall><params/></methodCall>')
    expect(app.logLines).toContainEqual(expect.objectContaining({ msg: 'xmlrpc request refused', transport: 'xmlrpc', outcome: -32600, reason: '<methodName> is missing' }))
  })
})

describe('HTTP around the bridge', () => {
  it.each(['GET', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const)('when the HTTP method is %s, then 405 with Allow: POST and a fault body', async (method) => {
    const answer = await app.inject({ method, url: '/' })
    expect(answer.statusCode).toBe(405)
    expect(answer.headers.allow).toBe('POST')
    expect(await readResponse(answer.body)).toEqual({ fault: { faultCode: -32600, faultString: 'Method Not Allowed: use POST' } })
  })

  it.each([
    ['application/json', 415],
    ['text/plain', 415],
    ['text/xml; charset=iso-8859-1', 415],
    ['application/xml', 200],
    ['text/xml; charset=UTF-8', 200],
  ])('when the content type is %s, then HTTP %i', async (contentType, status) => {
    const answer = await postXml(app, methodCall('system.listMethods'), { 'content-type': contentType })
    expect(answer.status).toBe(status)
    expect(answer.headers['content-type']).toBe('text/xml; charset=utf-8')
    const reading = await readResponse(answer.body)
    expect('fault' in reading ? reading.fault.faultCode : 'result').toBe(status === 200 ? 'result' : -32600)
  })

  it('when a POST has no content type, then 415 with a fault body', async () => {
    const answer = await app.inject({ method: 'POST', url: '/', payload: Buffer.from(methodCall('system.listMethods')) })
    expect(answer.statusCode).toBe(415)
    expect(await readResponse(answer.body)).toEqual({ fault: { faultCode: -32600, faultString: 'Unsupported Media Type: send Content-Type: text/xml in UTF-8' } })
  })

  it('when an XML-RPC route fails outside any call, then 500 with a -32603 fault, and the detail is in the log only', async () => {
    // A route of the test's own in the bridge's protocol, whose handler fails as none of the bridge's can.
    const failing = await buildTestApp({ XMLRPC_PATH: '/' }, {
      beforeReady: (scope) => scope.post('/failing', { config: { refusals: xmlRpcRefusals } }, async () => { throw new Error('route broke: detail-9b2d') }),
    })
    try {
      const answer = await failing.inject({ method: 'POST', url: '/failing' })
      expect(answer.statusCode).toBe(500)
      expect(answer.headers['content-type']).toBe('text/xml; charset=utf-8')
      expect(answer.body).not.toContain('detail-9b2d')
      expect(await readResponse(answer.body)).toEqual({ fault: { faultCode: -32603, faultString: 'Internal error' } })
      expect(failing.logLines).toContainEqual(expect.objectContaining({ level: 50, msg: 'request failed', err: expect.objectContaining({ message: 'route broke: detail-9b2d' }) }))
    } finally {
      await failing.close()
    }
  })

  it('when the bridge is on, then /rpc still speaks JSON-RPC beside it', async () => {
    const { status, body } = await call(app, 'get_user', [2_147_483_602])
    expect(status).toBe(200)
    expect(body).toEqual({ jsonrpc: '2.0', id: 1, error: { code: -32004, message: 'No such user', data: { id: 2_147_483_602 } } })
  })
})

describe('API keys and rate limits on the bridge', () => {
  let guarded: TestApp
  beforeAll(async () => { guarded = await buildTestApp({ XMLRPC_PATH: '/', API_KEYS: `billing:write:${WRITER},reports:read:${READER}`, RATE_LIMIT_PER_IP: '1000' }) })
  afterAll(async () => { await guarded.close() })

  it.each([
    ['no Authorization header', {}],
    ['an unknown bearer key', { authorization: 'Bearer not-a-key-0123456789abcdef' }],
    ['the key as a Basic password (not accepted: keys travel as Bearer)', { authorization: `Basic ${Buffer.from(`billing:${WRITER}`).toString('base64')}` }],
  ])('when the request has %s, then HTTP 401 with a -32001 fault and nothing is written', async (_case, headers) => {
    const login = uniqueLogin('xmlauth')
    const answer = await postXml(guarded, createUser(login), headers)
    expect(answer.status).toBe(401)
    expect(answer.headers['content-type']).toBe('text/xml; charset=utf-8')
    expect(await readResponse(answer.body)).toEqual({ fault: { faultCode: -32001, faultString: 'Unauthorized: send Authorization: Bearer <API key>' } })
    expect(await countUsers(login)).toBe(0)
  })

  it('when a read-only key writes, then the fault is -32003 and nothing is written; when it reads, then it answers', async () => {
    const login = uniqueLogin('xmlread')
    const denied = await postXml(guarded, createUser(login), { authorization: `Bearer ${READER}` })
    expect(await readResponse(denied.body)).toEqual({ fault: { faultCode: -32003, faultString: 'Forbidden: this API key is read-only' } })
    expect(await countUsers(login)).toBe(0)

    const written = await readResponse((await postXml(guarded, createUser(login), { authorization: `Bearer ${WRITER}` })).body)
    const { user_id: id } = (written as { result: { user_id: number } }).result
    const read = await postXml(guarded, methodCall('get_user', int(id)), { authorization: `Bearer ${READER}` })
    expect(await readResponse(read.body)).toMatchObject({ result: { user_id: id, login } })
  })

  it('when the per-address limit is passed, then HTTP 429 with Retry-After and a -32029 fault', async () => {
    const limited = await buildTestApp({ XMLRPC_PATH: '/', RATE_LIMIT_PER_IP: '2' })
    try {
      const statuses = []
      let last
      for (let attempt = 0; attempt < 3; attempt++) {
        last = await postXml(limited, methodCall('system.listMethods'))
        statuses.push(last.status)
      }
      expect(statuses).toEqual([200, 200, 429])
      expect(Number(last?.headers['retry-after'])).toBeGreaterThan(0)
      expect(await readResponse(last?.body ?? '')).toMatchObject({ fault: { faultCode: -32029, faultString: 'Too many requests' } })
    } finally {
      await limited.close()
    }
  })
})

/** A billion-laughs DOCTYPE: ten entities, each ten of the one before (10^9 "lol"s from &lol9;). */
const LAUGHS = `<!DOCTYPE methodCall [<!ENTITY lol0 "lol">${Array.from({ length: 9 }, (_, level) =>
  `<!ENTITY lol${level + 1} "${`&lol${level};`.repeat(10)}">`).join('')}]>`
const XXE = '<!DOCTYPE methodCall [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'

/** A DOCTYPE where XML puts one: after the declaration, before the root. */
const withDoctype = (doctype: string, body: string) => body.replace('?>', `?>${doctype}`)

/** The body with raw bytes where the placeholder `@@` stands. */
const withBytes = (body: string, bytes: number[]) => {
  const [before, after] = body.split('@@')
  return Buffer.concat([Buffer.from(before ?? ''), Buffer.from(bytes), Buffer.from(after ?? '')])
}

interface HostileCase {
  name: string
  status: number
  faultCode: number
  faultString: string | RegExp
  body: (login: string) => string | Buffer
}

const hostile: HostileCase[] = [
  { name: 'billion laughs', status: 200, faultCode: -32700, faultString: 'Parse error: a DOCTYPE is not allowed', body: (login) => withDoctype(LAUGHS, createUser(login, '<value><string>&lol9;</string></value>')) },
  { name: 'an XXE naming a local file', status: 200, faultCode: -32700, faultString: 'Parse error: a DOCTYPE is not allowed', body: (login) => withDoctype(XXE, createUser(login, '<value><string>&xxe;</string></value>')) },
  { name: 'an entity reference with no DOCTYPE', status: 200, faultCode: -32700, faultString: /^Parse error: .*undefined entity/, body: (login) => createUser(login, '<value><string>&xxe;</string></value>') },
  { name: 'deep nesting', status: 200, faultCode: -32700, faultString: 'Parse error: elements are nested deeper than 32', body: (login) => createUser(login, text('A'), `${'<value><array><data>'.repeat(200)}${'</data></array></value>'.repeat(200)}`) },
  { name: 'a huge string (within the body limit)', status: 200, faultCode: -32602, faultString: 'Invalid params', body: (login) => createUser(login, text('x'.repeat(200_000))) },
  { name: 'a body over the limit', status: 413, faultCode: -32600, faultString: 'Request body too large', body: (login) => createUser(login, text('x'.repeat(300_000))) },
  { name: 'invalid UTF-8 bytes', status: 200, faultCode: -32700, faultString: 'Parse error: the body is not valid UTF-8', body: (login) => withBytes(createUser(login, text('@@')), [0xff, 0xfe]) },
  { name: 'an overlong UTF-8 encoding of "/"', status: 200, faultCode: -32700, faultString: 'Parse error: the body is not valid UTF-8', body: (login) => withBytes(createUser(login, text('@@')), [0xc0, 0xaf]) },
  { name: 'a declared encoding other than UTF-8', status: 200, faultCode: -32700, faultString: 'Parse error: the encoding must be UTF-8, not ISO-8859-1', body: (login) => createUser(login).replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="ISO-8859-1"?>') },
  { name: 'an <i4> beyond 32 bits', status: 200, faultCode: -32600, faultString: 'Invalid Request: <i4> 4294967296 is outside 32 bits', body: (login) => createUser(login, text('A'), '<value><i4>4294967296</i4></value>') },
  { name: 'an unknown type tag', status: 200, faultCode: -32600, faultString: 'Invalid Request: unknown value type <i8>', body: (login) => createUser(login, '<value><i8>1</i8></value>') },
  { name: 'a missing methodName', status: 200, faultCode: -32600, faultString: 'Invalid Request: <methodName> is missing', body: (login) => createUser(login).replace('<methodName>create_user</methodName>', '') },
  { name: 'a struct member named twice', status: 200, faultCode: -32600, faultString: 'Invalid Request: the member "login" appears twice', body: (login) => methodCall('user.create', `<value><struct><member><name>login</name>${text(login)}</member><member><name>login</name>${text('other')}</member></struct></value>`) },
  { name: 'a wrong parameter count', status: 200, faultCode: -32602, faultString: 'Invalid params', body: (login) => createUser(login, text('A'), text('B'), text('C')) },
  { name: 'an empty body', status: 200, faultCode: -32700, faultString: 'Parse error: 1:0: document must contain a root element.', body: () => '' },
  { name: 'not XML at all', status: 200, faultCode: -32700, faultString: /^Parse error: /, body: (login) => JSON.stringify({ jsonrpc: '2.0', method: 'create_user', params: [login], id: 1 }) },
]

describe('hostile bodies', () => {
  it.each(hostile)('when the body has $name, then HTTP $status with fault $faultCode, never a 5xx, and nothing is written', async ({ body, status, faultCode, faultString }) => {
    const login = uniqueLogin('hostile')
    const answer = await postXml(app, body(login))
    expect(answer.status).toBe(status)
    expect(answer.headers['content-type']).toBe('text/xml; charset=utf-8')
    expect(await readResponse(answer.body)).toEqual({ fault: { faultCode, faultString: typeof faultString === 'string' ? faultString : expect.stringMatching(faultString) } })
    expect(await countUsers(login)).toBe(0)
  })

  it.each(['__proto__', 'constructor', 'prototype'])('when a struct member is named %s, then the fault is -32602, as over JSON-RPC, no user is made and no prototype is touched', async (key) => {
    const pristine = Object.getOwnPropertyDescriptors(Object.prototype)
    const login = uniqueLogin('xproto')
    const struct = `<value><struct><member><name>login</name>${text(login)}</member><member><name>${key}</name><value><struct><member><name>polluted</name>${text('yes')}</member></struct></value></member></struct></value>`
    const answer = await readResponse((await postXml(app, methodCall('user.create', struct))).body)
    expect(answer).toEqual({ fault: { faultCode: -32602, faultString: 'Invalid params' } })
    expect(await countUsers(login)).toBe(0)
    expect(Object.getOwnPropertyDescriptors(Object.prototype)).toEqual(pristine)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })
})
