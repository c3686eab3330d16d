import { randomUUID } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import { call, endedAfterAll, type TestApp } from './support/clients.js'
import { insertUser, query, readUser, uniqueLogin } from './support/database.js'

/** docs/retries.md, "Versions": no lost updates with expectedVersion. */

const { service } = endedAfterAll()

let app: TestApp
beforeAll(async () => { app = await service() })

type User = { id: number, login: string, firstName: string | null, lastName: string | null, version: number }

async function createUser (): Promise<User> {
  const { body } = await call(app, 'user.create', { login: uniqueLogin('v') })
  if (!body.result) throw new Error(`create failed: ${JSON.stringify(body)}`)
  return body.result as User
}

describe('a user\'s version', () => {
  it('when a user is created, then it is at version 1, and every update adds one', async () => {
    const user = await createUser()
    expect(user.version).toBe(1)
    expect((await call(app, 'user.update', { id: user.id, firstName: 'A' })).body.result.version).toBe(2)
    expect((await call(app, 'user.update', { id: user.id, firstName: 'A' })).body.result.version).toBe(3)
    expect((await call(app, 'user.get', { id: user.id })).body.result.version).toBe(3)
  })

  it('when a row was written before versions existed (no version given), then it is at version 1', async () => {
    const row = await insertUser()
    expect((await call(app, 'user.get', { id: row.id })).body.result.version).toBe(1)
  })

  it('when the legacy methods answer, then their shape has no version', async () => {
    const created = await call(app, 'create_user', [uniqueLogin('legacy')])
    const fetched = await call(app, 'get_user', [created.body.result.user_id])
    for (const answer of [created, fetched]) expect(Object.keys(answer.body.result).sort()).toEqual(['first_name', 'last_name', 'login', 'user_id'])
  })
})

describe('expectedVersion', () => {
  it('when it is the current version, then the update is applied', async () => {
    const user = await createUser()
    const { body } = await call(app, 'user.update', { id: user.id, lastName: 'Kept', expectedVersion: 1 })
    expect(body.result).toMatchObject({ lastName: 'Kept', version: 2 })
  })

  it('when it is not, then -32013 with the id and both versions, and nothing changes', async () => {
    const user = await createUser()
    await call(app, 'user.update', { id: user.id, firstName: 'Newer' })
    const { body } = await call(app, 'user.update', { id: user.id, firstName: 'Stale', expectedVersion: 1 })
    expect(body.error).toEqual({ code: -32013, message: 'Version mismatch', data: { id: user.id, expectedVersion: 1, currentVersion: 2 } })
    expect((await readUser(user.id))?.first_name).toBe('Newer')
    expect((await call(app, 'user.get', { id: user.id })).body.result.version).toBe(2)
  })

  it('when a delete expects an old version, then -32013 and the user stays; with the current one it is deleted', async () => {
    const user = await createUser()
    await call(app, 'user.update', { id: user.id, firstName: 'Moved' })
    const stale = await call(app, 'user.delete', { id: user.id, expectedVersion: 1 })
    expect(stale.body.error).toMatchObject({ code: -32013, data: { id: user.id, expectedVersion: 1, currentVersion: 2 } })
    expect(await readUser(user.id)).toBeDefined()
    const current = await call(app, 'user.delete', { id: user.id, expectedVersion: 2 })
    expect(current.body.result).toMatchObject({ id: user.id, version: 2 })
    expect(await readUser(user.id)).toBeUndefined()
  })

  it('when the user does not exist, then -32004, whatever the version', async () => {
    for (const method of ['user.update', 'user.delete']) {
      const { body } = await call(app, method, { id: 2_147_483_000, firstName: method === 'user.update' ? 'X' : undefined, expectedVersion: 1 })
      expect(body.error).toMatchObject({ code: -32004, data: { id: 2_147_483_000 } })
    }
  })

  it.each([0, -1, 1.5, '1', 2_147_483_648])('when it is %j, then -32602 names it', async (expectedVersion) => {
    const { body } = await call(app, 'user.update', { id: 1, firstName: 'X', expectedVersion })
    expect(body.error.code).toBe(-32602)
    expect(body.error.data.issues.map((issue: { path: unknown[] }) => issue.path)).toEqual([['expectedVersion']])
  })

  it('when 20 updates expecting one version arrive at once, then exactly one is applied and 19 get -32013', async () => {
    const user = await createUser()
    const answers = await Promise.all(Array.from({ length: 20 }, (_, index) =>
      call(app, 'user.update', { id: user.id, firstName: `Racer ${index}`, expectedVersion: 1 })))
    const winners = answers.filter((answer) => answer.body.result)
    const losers = answers.filter((answer) => answer.body.error)
    expect(winners).toHaveLength(1)
    expect(losers).toHaveLength(19)
    for (const loser of losers) expect(loser.body.error).toEqual({ code: -32013, message: 'Version mismatch', data: { id: user.id, expectedVersion: 1, currentVersion: 2 } })
    const [stored] = await query<{ first_name: string, version: number }>('SELECT first_name, version FROM users WHERE id = $1', [user.id])
    expect(stored).toEqual({ first_name: winners[0]?.body.result.firstName, version: 2 })
  })

  it('when a versioned update is repeated with its idempotency key, then the repeat gets the first answer, not -32013', async () => {
    const user = await createUser()
    const key = randomUUID()
    const first = await call(app, 'user.update', { id: user.id, firstName: 'Once', expectedVersion: 1, idempotencyKey: key })
    const again = await call(app, 'user.update', { id: user.id, firstName: 'Once', expectedVersion: 1, idempotencyKey: key })
    expect(first.body.result).toMatchObject({ version: 2 })
    expect(again.body.result).toEqual(first.body.result)
  })
})
