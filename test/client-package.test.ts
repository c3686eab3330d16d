// The typed client package (packages/client, @user-rpc/client): its types stay what the
// service's method definitions say, it works against the live built service (calls, batches,
// API keys, retries, time limits), and it installs and type-checks with json-rpc-2.0 alone.
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createUserRpcClient, RETRYABLE_CODES, UserRpcError, UserRpcTransportError } from '@user-rpc/client'
import { clientTypesFile, renderClientTypes } from '../scripts/generate-client-types.js'
import { projectRoot } from '../src/paths.js'
import { retryableCodes } from '../src/rpc/errors.js'
import { lockRow, testDatabaseUrl, uniqueLogin, uniqueName, waitForBlockedCalls, withApplicationName } from './support/database.js'
import { startService, type ServiceProcess } from './support/processes.js'
import { runProgram, scratchFolder } from './support/tools.js'

const WRITER = 'writer-secret-0123456789abcdef'
const READER = 'reader-secret-0123456789abcdef'

const services: ServiceProcess[] = []
/** The built service on the test database; `applicationName` names its backends there. */
async function service (env: Record<string, string> = {}) {
  const applicationName = uniqueName('client-package')
  const running = await startService({ DATABASE_URL: withApplicationName(testDatabaseUrl(), applicationName), ...env })
  services.push(running)
  return { applicationName, url: `${running.url}/rpc` }
}
afterAll(async () => { for (const running of services) await running.stop() })

/** fetch, counting the HTTP requests and the JSON-RPC calls in each. */
function countingFetch () {
  const requests: number[] = []
  const counted: typeof fetch = async (input, init) => {
    const body = JSON.parse(String(init?.body)) as unknown
    requests.push(Array.isArray(body) ? body.length : 1)
    return await fetch(input, init)
  }
  return { fetch: counted, requests }
}

describe('the client\'s types', () => {
  it('when the method definitions are rendered again, then they give packages/client/src/methods.ts as committed', async () => {
    expect(await renderClientTypes()).toBe(await readFile(clientTypesFile, 'utf8'))
  })

  it('when the package is built, then the codes it sends again are those the service\'s error table marks retryable', () => {
    expect(RETRYABLE_CODES).toEqual(retryableCodes)
    expect(new UserRpcError('conflict', retryableCodes[0] ?? 0).retryable).toBe(true)
  })
})

describe('the client against the live service', { timeout: 60_000 }, () => {
  let url: string
  beforeAll(async () => { url = (await service()).url })

  it('when methods are called, then results come back as the service sent them, and errors carry code and data', async () => {
    const users = createUserRpcClient({ url })
    const login = uniqueLogin('pkg')
    const created = await users.call('user.create', { login, firstName: 'Ada' })
    expect(created).toMatchObject({ login, firstName: 'Ada', lastName: null })
    expect(await users.call('user.get', { id: created.id })).toEqual(created)
    expect((await users.call('user.list', { loginPrefix: login })).items).toEqual([created])
    const legacy = await users.call('get_user', { user_id: created.id })
    expect(legacy).toEqual({ user_id: created.id, login, first_name: 'Ada', last_name: null })

    const taken = await users.call('user.create', { login }).catch((error: unknown) => error)
    expect(taken).toBeInstanceOf(UserRpcError)
    expect(taken).toMatchObject({ code: -32009, message: 'Login already taken', data: { login }, retryable: false })
  })

  it('when calls are batched, then they go in one HTTP request and each has its own outcome, in order', async () => {
    const counter = countingFetch()
    const users = createUserRpcClient({ url, fetch: counter.fetch })
    const login = uniqueLogin('batch')
    const outcomes = await users.batch([
      { method: 'user.create', params: { login } },
      { method: 'user.get', params: { id: 2_147_483_647 } },
      { method: 'user.create', params: { login } },
    ] as const)
    expect(counter.requests).toEqual([3])
    expect(outcomes[0]).toMatchObject({ ok: true, result: { login } })
    expect(outcomes[1]).toMatchObject({ ok: false, error: { code: -32004, data: { id: 2_147_483_647 } } })
    expect(outcomes[2]).toMatchObject({ ok: false, error: { code: -32009 } })
    expect(await users.batch([])).toEqual([])
  })
})

describe('the client\'s Authorization', { timeout: 60_000 }, () => {
  let url: string
  beforeAll(async () => { url = (await service({ API_KEYS: `billing:write:${WRITER},reports:read:${READER}` })).url })

  it('when no key is given, then -32001; a read key reads and is refused writes; headers send any Authorization', async () => {
    await expect(createUserRpcClient({ url }).call('user.list')).rejects.toMatchObject({ name: 'UserRpcError', code: -32001 })
    const reader = createUserRpcClient({ url, apiKey: READER })
    expect((await reader.call('user.list', { limit: 1 })).items.length).toBeLessThanOrEqual(1)
    await expect(reader.call('user.create', { login: uniqueLogin('ro') })).rejects.toMatchObject({ code: -32003 })
    const writer = createUserRpcClient({ url, headers: async () => ({ authorization: `Bearer ${WRITER}` }) })
    expect((await writer.call('user.create', { login: uniqueLogin('rw') })).id).toBeGreaterThan(0)
  })
})

describe('the client\'s retries and time limit', { timeout: 60_000 }, () => {
  it('when the service is at its in-flight limit, then a call fails with -32011, and with retries on it gets through once there is room', async () => {
    const { url, applicationName } = await service({ RPC_MAX_IN_FLIGHT: '1' })
    const users = createUserRpcClient({ url })
    const user = await users.call('user.create', { login: uniqueLogin('busy') })
    // A call that holds the only in-flight slot: its update waits on a row lock taken here.
    const locker = await lockRow(user.id)
    try {
      const holding = users.call('user.update', { id: user.id, firstName: 'Held' })
      await waitForBlockedCalls(applicationName, { by: locker.pid })

      const refused = await users.call('user.get', { id: user.id }).catch((error: unknown) => error)
      expect(refused).toMatchObject({ code: -32011, retryable: true })

      const counter = countingFetch()
      const patient = createUserRpcClient({ url, fetch: counter.fetch, retry: { attempts: 50, baseDelayMs: 40, maxDelayMs: 80 } })
      const answer = patient.call('user.get', { id: user.id })
      await new Promise((resolve) => setTimeout(resolve, 300))
      await locker.end('COMMIT')
      expect(await answer).toMatchObject({ id: user.id })
      expect(counter.requests.length).toBeGreaterThan(1)
      expect((await holding).firstName).toBe('Held')
    } finally {
      await locker.end()
    }
  })

  describe('against a scripted endpoint', () => {
    let endpoint: Server
    let url: string
    let script: (calls: Array<{ id: number, method: string }>) => unknown
    const received: number[] = []
    beforeAll(async () => {
      endpoint = createServer(async (request, response) => {
        const body = JSON.parse(await text(request)) as Array<{ id: number, method: string }> | { id: number, method: string }
        const calls = Array.isArray(body) ? body : [body]
        received.push(calls.length)
        const answer = script(calls)
        if (answer === undefined) return // never answers
        response.setHeader('content-type', 'application/json')
        response.end(JSON.stringify(Array.isArray(body) ? answer : (answer as unknown[])[0]))
      })
      await new Promise<void>((resolve) => endpoint.listen(0, '127.0.0.1', resolve))
      url = `http://127.0.0.1:${(endpoint.address() as { port: number }).port}/rpc`
      // fetch's first use costs a while (loading undici): paid here, not in a timed test.
      script = (calls) => calls.map(({ id }) => ({ jsonrpc: '2.0', id, result: null }))
      await createUserRpcClient({ url }).call('user.list')
    })
    afterAll(() => { endpoint.closeAllConnections(); endpoint.close() })

    /** Answers -32010 to the first `failures` requests, then a result. */
    const conflictsThenOk = (failures: number) => {
      let seen = 0
      return (calls: Array<{ id: number }>) => calls.map(({ id }) => seen++ < failures
        ? { jsonrpc: '2.0', id, error: { code: -32010, message: 'Transaction conflict', data: { retryable: true } } }
        : { jsonrpc: '2.0', id, result: 'ok' })
    }

    it('when retries are off, then a retryable error is thrown at once', async () => {
      received.length = 0
      script = conflictsThenOk(1)
      await expect(createUserRpcClient({ url }).call('user.list')).rejects.toMatchObject({ code: -32010 })
      expect(received).toEqual([1])
    })

    it('when retries are on, then -32010 is retried with growing waits until it succeeds, up to the attempts allowed', async () => {
      received.length = 0
      script = conflictsThenOk(2)
      const started = performance.now()
      expect(await createUserRpcClient({ url, retry: { attempts: 3, baseDelayMs: 200 } }).call('user.list')).toBe('ok')
      expect(received).toEqual([1, 1, 1])
      // Equal jitter: at least half of each step, 200 ms then 400 ms.
      expect(performance.now() - started).toBeGreaterThanOrEqual(300)

      received.length = 0
      script = conflictsThenOk(5)
      await expect(createUserRpcClient({ url, retry: { attempts: 2, baseDelayMs: 10 } }).call('user.list')).rejects.toMatchObject({ code: -32010 })
      expect(received).toEqual([1, 1])
    })

    it('when an error is not retryable, then it is not sent again', async () => {
      received.length = 0
      script = (calls) => calls.map(({ id }) => ({ jsonrpc: '2.0', id, error: { code: -32004, message: 'User not found' } }))
      await expect(createUserRpcClient({ url, retry: true }).call('user.get', { id: 1 })).rejects.toMatchObject({ code: -32004 })
      expect(received).toEqual([1])
    })

    it('when retries are on, then every try of a write carries the same idempotency key, made for the call unless given', async () => {
      const sent: Array<{ method: string, params?: { idempotencyKey?: string } }> = []
      script = (calls) => {
        sent.push(...(calls as typeof sent))
        return conflictsThenOk(sent.length === 1 || sent.length === 3 ? 1 : 0)(calls)
      }
      const client = createUserRpcClient({ url, retry: { baseDelayMs: 10 } })
      await client.call('user.create', { login: 'ada' })
      await client.call('user.update', { id: 1, firstName: 'A', idempotencyKey: 'mine' })
      await client.call('user.get', { id: 1 })
      const keys = sent.map((call) => call.params?.idempotencyKey)
      expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/)
      expect(keys).toEqual([keys[0], keys[0], 'mine', 'mine', undefined])
      expect(sent.map((call) => call.method)).toEqual(['user.create', 'user.create', 'user.update', 'user.update', 'user.get'])

      sent.length = 0
      script = (calls) => {
        sent.push(...(calls as typeof sent))
        return conflictsThenOk(0)(calls)
      }
      await createUserRpcClient({ url }).call('user.create', { login: 'ada' })
      expect(sent[0]?.params).toEqual({ login: 'ada' })
    })

    it('when one call of a batch gets a retryable error, then only that call is sent again', async () => {
      received.length = 0
      let first = true
      script = (calls) => {
        const answers = calls.map(({ id, method }) => first && method === 'user.list'
          ? { jsonrpc: '2.0', id, error: { code: -32011, message: 'Database unavailable' } }
          : { jsonrpc: '2.0', id, result: method })
        first = false
        return answers
      }
      const outcomes = await createUserRpcClient({ url, retry: { baseDelayMs: 10 } }).batch([
        { method: 'user.get', params: { id: 1 } },
        { method: 'user.list', params: {} },
      ])
      expect(outcomes).toEqual([{ ok: true, result: 'user.get' }, { ok: true, result: 'user.list' }])
      expect(received).toEqual([2, 1])
    })

    it('when no answer comes within timeoutMs, then the request is given up with a timeout error', async () => {
      script = () => undefined
      const started = performance.now()
      const failure = await createUserRpcClient({ url, timeoutMs: 300 }).call('user.list').catch((error: unknown) => error)
      expect(failure).toBeInstanceOf(UserRpcTransportError)
      expect(failure).toMatchObject({ kind: 'timeout' })
      expect(performance.now() - started).toBeLessThan(2000)
    })
  })
})

describe('the packed client', { timeout: 240_000 }, () => {
  it('when its tarball is installed in an empty project, then only json-rpc-2.0 comes with it, and it type-checks and calls the service', async () => {
    const { url } = await service()
    const work = await scratchFolder('client-pack')
    try {
      const packed = await runProgram('npm', ['pack', '--workspace', '@user-rpc/client', '--pack-destination', work.path, '--json'])
      expect(packed.code).toBe(0)
      const tarball = join(work.path, (JSON.parse(packed.stdout) as Array<{ filename: string }>)[0]!.filename)

      const consumer = join(work.path, 'consumer')
      await runProgram('mkdir', [consumer])
      await writeFile(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }))
      const installed = await runProgram('npm', ['install', tarball, '--no-audit', '--no-fund', '--prefer-offline'], { cwd: consumer })
      expect(installed.code).toBe(0)
      const topLevel = (await readdir(join(consumer, 'node_modules'))).filter((name) => !name.startsWith('.'))
      expect(topLevel.sort()).toEqual(['@user-rpc', 'json-rpc-2.0'])
      expect(await readdir(join(consumer, 'node_modules', '@user-rpc'))).toEqual(['client'])

      // Type-checked only: its types come from the package alone (no Node types, no server).
      await writeFile(join(consumer, 'call.ts'), `
        import { createUserRpcClient, UserRpcError, type User } from '@user-rpc/client'
        const users = createUserRpcClient({ url: 'http://127.0.0.1:8000/rpc', apiKey: 'key', retry: true, timeoutMs: 5000 })
        const user: User = await users.call('user.create', { login: 'ada' })
        const page = await users.call('user.list')
        const [created, missing] = await users.batch([{ method: 'user.create', params: { login: 'bob' } }, { method: 'get_user', params: { user_id: 1 } }] as const)
        if (created.ok && missing.ok) console.log(created.result.firstName, missing.result.first_name, page.nextCursor, user.id)
        else if (!created.ok && created.error instanceof UserRpcError) console.log(created.error.code)
        // @ts-expect-error: user.get takes an id, not a login
        void users.call('user.get', { login: 'ada' })
        // @ts-expect-error: no such method
        void users.call('user.forget', {})
        // @ts-expect-error: a batch call's params are checked against its method
        void users.batch([{ method: 'user.get', params: { user_id: 1 } }])
      `)
      await writeFile(join(consumer, 'tsconfig.json'), JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, lib: ['ES2022', 'DOM'], types: [] },
        files: ['call.ts'],
      }))
      const typeCheck = await runProgram(process.execPath, [join(projectRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', consumer], { cwd: consumer })
      expect(typeCheck.stdout + typeCheck.stderr).toBe('')
      expect(typeCheck.code).toBe(0)

      const login = uniqueLogin('packed')
      const script = `import { createUserRpcClient, UserRpcError } from '@user-rpc/client'
        const users = createUserRpcClient({ url: process.argv[1] })
        const user = await users.call('user.create', { login: process.argv[2] })
        const missing = await users.call('user.get', { id: 2147483647 }).catch((error) => error)
        console.log(JSON.stringify({ login: user.login, missing: missing instanceof UserRpcError ? missing.code : null }))`
      const ran = await runProgram(process.execPath, ['--input-type=module', '-e', script, url, login], { cwd: consumer })
      expect(ran.stderr).toBe('')
      expect(JSON.parse(ran.stdout)).toEqual({ login, missing: -32004 })
    } finally {
      await work.remove()
    }
  })
})

async function text (request: IncomingMessage) {
  let body = ''
  for await (const chunk of request) body += String(chunk)
  return body
}
