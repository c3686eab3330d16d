import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { migrateDeploy } from '../src/db/migrate.js'
import { startExternalPostgres, type ExternalPostgres } from './external-postgres.js'
import { killLeftoverServices, probe, startServiceChild } from './service-child.js'
import { loginsWith, startWriteLoad, storedLogins, tally } from './write-load.js'

/**
 * The built service on an operator's PostgreSQL (one this file starts with pg_ctl), while
 * that database crashes and comes back, and while the service is told to stop.
 */
let database: ExternalPostgres
beforeAll(async () => {
  database = await startExternalPostgres()
  await migrateDeploy(database.url)
}, 180_000)
afterAll(async () => {
  killLeftoverServices()
  await database?.remove()
})

describe('an external database that goes away', () => {
  it('when it stops (immediate) and starts again under writes, then calls get only -32011 while it is down, /readyz says 503, calls recover, and every acknowledged create is there', async () => {
    const service = await startServiceChild({ DATABASE_URL: database.url })
    const load = startWriteLoad({ port: service.port, prefix: 'outage' })
    try {
      await load.acknowledged(50)
      await database.stop('immediate')
      const downFrom = performance.now()
      // Down for a while under load: at least 1.5 s, and until readiness has said so.
      let readyWhileDown = await probe(service.port, '/readyz')
      await sleep(1500)
      readyWhileDown = Math.max(readyWhileDown, await probe(service.port, '/readyz'))
      const downUntil = performance.now()
      await database.start()
      const backAt = performance.now()
      await load.acknowledged(50, backAt)
      const recoveredAt = load.records.find((record) => record.outcome === 'ok' && record.sentAt >= backAt)?.settledAt ?? Infinity
      await load.stop()

      expect(readyWhileDown).toBe(503)
      expect(await probe(service.port, '/readyz')).toBe(200)
      expect(service.running()).toBe(true)
      expect(Object.keys(tally(load.records)).sort()).toEqual(['-32011', 'ok'])
      const whileDown = load.records.filter((record) => record.sentAt >= downFrom && record.settledAt <= downUntil)
      expect(whileDown.length).toBeGreaterThan(10)
      expect(new Set(whileDown.map((record) => record.outcome))).toEqual(new Set([-32011]))
      // Bounded, not tight: the machine is shared. The pool needs no restart, only a new connection.
      expect(recoveredAt - backAt).toBeLessThan(15_000)

      const stored = await storedLogins(database.url, 'outage')
      for (const login of loginsWith(load.records, 'ok')) expect(stored.has(login), login).toBe(true)
      // A create answered -32011 may have committed as the server died; nothing else is there.
      const answered = loginsWith(load.records, 'ok', -32011)
      for (const login of stored) expect(answered.has(login), login).toBe(true)
    } finally {
      await load.stop()
      service.child.kill('SIGTERM')
    }
    expect(await service.exited).toBe(0)
  }, 120_000)
})

describe('a service told to stop under writes', () => {
  it('when SIGTERM arrives under single and batched creates, then it exits 0, every acknowledged create is there, and nothing else: no row for a create that failed or got no answer', async () => {
    const service = await startServiceChild({ DATABASE_URL: database.url })
    const load = startWriteLoad({ port: service.port, prefix: 'sigterm', clients: 4, batchClients: 1 })
    try {
      await load.acknowledged(100)
      service.child.kill('SIGTERM')
      expect(await service.exited).toBe(0)
      await load.stop()
      expect(service.lines.some((line) => line.msg === 'shut down cleanly')).toBe(true)

      const outcomes = tally(load.records)
      expect(Object.keys(outcomes).every((outcome) => ['ok', 'refused', 'lost'].includes(outcome)), JSON.stringify(outcomes)).toBe(true)
      const stored = await storedLogins(database.url, 'sigterm')
      const acknowledged = loginsWith(load.records, 'ok')
      expect([...stored].sort()).toEqual([...acknowledged].sort())
    } finally {
      await load.stop()
    }
  }, 120_000)
})
