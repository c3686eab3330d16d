import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import xmlrpc from 'xmlrpc'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { projectRoot } from '../src/paths.js'
import { buildTestApp, listen, type TestApp } from './support/clients.js'
import { countUsers, testDatabaseUrl, uniqueLogin } from './support/database.js'
import { killLeftoverServices, runPython, startService } from './support/processes.js'

/** docs/xmlrpc-migration.md: real XML-RPC callers (Python, npm) and the page's two scripts. */

const WRITER = 'writer-secret-0123456789abcdef'
const READER = 'reader-secret-0123456789abcdef'

const SERVER_PROXY = join(projectRoot, 'test', 'fixtures', 'server-proxy.py')
const OLD_CALLER = join(projectRoot, 'examples', 'xmlrpc-caller.py')
const NEW_CALLER = join(projectRoot, 'examples', 'jsonrpc-caller.py')

/** The service with keys and the bridge on `/`, listening on a real socket. */
let app: TestApp
let port: number
beforeAll(async () => {
  app = await buildTestApp({ XMLRPC_PATH: '/', API_KEYS: `billing:write:${WRITER},reports:read:${READER}` })
  port = Number(new URL(await listen(app)).port)
})
afterAll(async () => {
  killLeftoverServices()
  await app.close()
})

type Outcome = { result: any } | { fault: [number, string] } | { protocolError: number }

/** Runs the calls through Python's ServerProxy (allow_none off, as by default); one outcome per call. */
async function serverProxy (calls: unknown[][], key?: string): Promise<Outcome[]> {
  const run = await runPython(SERVER_PROXY, [`http://127.0.0.1:${port}/`, JSON.stringify(calls)], key ? { USER_RPC_KEY: key } : {})
  expect(run.stderr).toBe('')
  expect(run.code).toBe(0)
  return run.stdout.trim().split('\n').map((line) => JSON.parse(line) as Outcome)
}

describe('Python\'s xmlrpc.client.ServerProxy', () => {
  it('when it calls create_user and get_user, then it gets the old struct back', async () => {
    const login = uniqueLogin('py')
    const [created] = await serverProxy([['create_user', login, 'Ada', 'Lovelace']], WRITER) as Array<{ result: { user_id: number } }>
    expect(created?.result).toEqual({ user_id: expect.any(Number), login, first_name: 'Ada', last_name: 'Lovelace' })
    const [fetched] = await serverProxy([['get_user', created?.result.user_id]], READER)
    expect(fetched).toEqual(created)
  })

  it('when get_user names a missing id, then it raises Fault -32004 "No such user"', async () => {
    expect(await serverProxy([['get_user', 2_147_483_600]], READER)).toEqual([{ fault: [-32004, 'No such user'] }])
  })

  it('when the login is taken, then it raises Fault -32009 and one row exists', async () => {
    const login = uniqueLogin('pydup')
    const outcomes = await serverProxy([['create_user', login, 'A', 'B'], ['create_user', login, 'C', 'D']], WRITER)
    expect(outcomes[1]).toEqual({ fault: [-32009, 'Login already taken'] })
    expect(await countUsers(login)).toBe(1)
  })

  it('when a read-only key writes, then Fault -32003 and nothing is written; without a key, ProtocolError 401', async () => {
    const login = uniqueLogin('pyread')
    expect(await serverProxy([['create_user', login, 'A', 'B']], READER)).toEqual([{ fault: [-32003, 'Forbidden: this API key is read-only'] }])
    expect(await serverProxy([['create_user', login, 'A', 'B']])).toEqual([{ protocolError: 401 }])
    expect(await countUsers(login)).toBe(0)
  })

  it('when a user has a null name, then a default ServerProxy (allow_none off) reads it as None', async () => {
    const login = uniqueLogin('pynull')
    const [created] = await serverProxy([['create_user', login]], WRITER) as Array<{ result: { user_id: number } }>
    expect(created?.result).toEqual({ user_id: expect.any(Number), login, first_name: null, last_name: null })
    expect(await serverProxy([['get_user', created?.result.user_id]], READER)).toEqual([created])
  })

  it('when it asks system.listMethods and system.methodSignature, then it sees the methods', async () => {
    const [list, signature] = await serverProxy([['system.listMethods'], ['system.methodSignature', 'get_user']], READER)
    expect((list as { result: string[] }).result).toEqual(expect.arrayContaining(['create_user', 'get_user', 'system.listMethods']))
    expect(signature).toEqual({ result: [['struct', 'int']] })
  })
})

describe('the npm xmlrpc client', () => {
  const client = (key?: string) => xmlrpc.createClient({ host: '127.0.0.1', port, path: '/', headers: key ? { Authorization: `Bearer ${key}` } : {} })
  const methodCall = (key: string | undefined, method: string, params: unknown[]) =>
    new Promise<unknown>((resolve, reject) => client(key).methodCall(method, params, (error, value) => error ? reject(error) : resolve(value)))

  it('when it creates and gets a user, then it reads the same struct, and faults carry the JSON-RPC code', async () => {
    const login = uniqueLogin('npm')
    const created = await methodCall(WRITER, 'create_user', [login, 'Grace', null]) as { user_id: number }
    expect(created).toEqual({ user_id: expect.any(Number), login, first_name: 'Grace', last_name: null })
    expect(await methodCall(READER, 'get_user', [created.user_id])).toEqual(created)

    await expect(methodCall(READER, 'get_user', [2_147_483_600])).rejects.toMatchObject({ faultCode: -32004, faultString: 'No such user' })
    await expect(methodCall(WRITER, 'create_user', [login])).rejects.toMatchObject({ faultCode: -32009 })
    await expect(methodCall(READER, 'create_user', [uniqueLogin('npmread')])).rejects.toMatchObject({ faultCode: -32003 })
    await expect(methodCall(undefined, 'get_user', [created.user_id])).rejects.toMatchObject({ faultCode: -32001 })
  })
})

describe('the migration page\'s Python callers, before and after', () => {
  const page = readFileSync(join(projectRoot, 'docs', 'xmlrpc-migration.md'), 'utf8')

  it.each([OLD_CALLER, NEW_CALLER])('when docs/xmlrpc-migration.md shows %s, then its copy is the file', (file) => {
    expect(page).toContain(`\`\`\`python\n${readFileSync(file, 'utf8')}\`\`\``)
  })

  it('when both run against the built service with XMLRPC_PATH=/, then each creates, fetches and sees "No such user"', async () => {
    const service = await startService({ DATABASE_URL: testDatabaseUrl(), XMLRPC_PATH: '/' })
    try {
      for (const [script, address] of [[OLD_CALLER, '/'], [NEW_CALLER, '/rpc']] as const) {
        const login = uniqueLogin('readme')
        const run = await runPython(script, [`http://127.0.0.1:${service.port}${address}`, login])
        expect(run.stderr, script).toBe('')
        expect(run.code, script).toBe(0)
        const lines = run.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>)
        const user = { user_id: expect.any(Number), login, first_name: 'Ada', last_name: 'Lovelace' }
        expect(lines, script).toEqual([{ created: user }, { fetched: user }, { missing: 'No such user' }])
        expect(await countUsers(login), script).toBe(1)
      }
    } finally {
      expect(await service.stop()).toBe(0)
    }
  }, 120_000)
})
