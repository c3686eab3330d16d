import pg from 'pg'
import { describe, expect, inject, it } from 'vitest'
import { buildTestApp, uniqueLogin } from './helpers.js'

describe('closing the app', () => {
  it('when a batch is still running at close, then every member finishes before the pool is ended', async () => {
    const app = await buildTestApp({ DATABASE_POOL_MAX: '4', RPC_BATCH_CONCURRENCY: '1' })
    const user = await app.db.user.create({ data: { login: uniqueLogin('drain') } })
    const locker = new pg.Client({ connectionString: inject('databaseUrl') })
    await locker.connect()
    try {
      // The first member waits on this row lock; the other two queue behind it (concurrency 1).
      await locker.query('BEGIN')
      await locker.query('SELECT id FROM users WHERE id = $1 FOR UPDATE', [user.id])
      const batch = app.inject({
        method: 'POST',
        url: '/rpc',
        headers: { 'content-type': 'application/json' },
        payload: [
          { jsonrpc: '2.0', method: 'user.update', params: { id: user.id, firstName: 'Last' }, id: 1 },
          { jsonrpc: '2.0', method: 'user.get', params: { id: user.id }, id: 2 },
          { jsonrpc: '2.0', method: 'user.list', params: { limit: 1 }, id: 3 },
        ],
      })
      await new Promise((resolve) => setTimeout(resolve, 200))
      const closed = app.close()
      await new Promise((resolve) => setTimeout(resolve, 200))
      await locker.query('COMMIT')

      const answers = (await batch).json() as Array<{ id: number, result?: unknown, error?: unknown }>
      await closed
      expect(answers.map((answer) => answer.error)).toEqual([undefined, undefined, undefined])
      expect(answers.find((answer) => answer.id === 2)?.result).toMatchObject({ firstName: 'Last' })
    } finally {
      await locker.end()
    }
  })
})
