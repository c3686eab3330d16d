import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, call, uniqueLogin, type App } from './helpers.js'

let app: App
beforeAll(async () => { app = await buildTestApp({ DATABASE_POOL_MAX: '10' }) })
afterAll(async () => { await app.close() })

describe('concurrent writes', () => {
  it('when 20 calls create one login at once, then exactly one succeeds, the rest get -32009, one row exists', async () => {
    const login = uniqueLogin('race')
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => call(app, 'user.create', { login, firstName: `n${i}` }, i)))
    const codes = answers.map(({ body }) => body.error?.code ?? 'ok')
    expect(codes.filter((code) => code === 'ok')).toHaveLength(1)
    expect(codes.filter((code) => code === -32009)).toHaveLength(19)
    expect(await app.db.user.count({ where: { login } })).toBe(1)
  })

  it('when a batch creates one login twice, then one member wins and the other gets -32009', async () => {
    const login = uniqueLogin('batchrace')
    const response = await app.inject({
      method: 'POST',
      url: '/rpc',
      headers: { 'content-type': 'application/json' },
      payload: [1, 2].map((id) => ({ jsonrpc: '2.0', method: 'user.create', params: { login }, id })),
    })
    const outcomes = response.json().map((r: { result?: unknown, error?: { code: number } }) => r.error?.code ?? 'ok').sort()
    expect(outcomes).toEqual([-32009, 'ok'].sort())
  })
})
