import { execFile } from 'node:child_process'
import { access, readFile, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { processesWorkingIn, reachableTempFolder, startOperatorPostgres, withClient, type OperatorPostgres } from '../scripts/postgres-topology.js'
import { migrateDeploy } from '../src/db/migrate.js'
import { loginsWith, probe, startWriteLoad, tally, type CreateRecord } from './support/clients.js'
import { storedLogins } from './support/database.js'
import { embeddedDatabaseUrl, killLeftoverServices, startService, type ServiceProcess } from './support/processes.js'

/**
 * docs/reliability.md: crashes and outages under writes, on the built service as a process.
 * Its embedded PostgreSQL killed (the default `npm start`), the service itself killed, and an
 * operator's PostgreSQL (one this file starts with pg_ctl) stopped and started again. A create
 * is acknowledged when it was answered with its user; every one must be stored. SIGTERM under
 * writes is in shutdown.test.ts.
 *
 * The embedded tests each run on a copy of one data folder that was initialised and migrated
 * once (cp -a keeps the postgres user's ownership), so none pays for initdb and the migrations.
 */
const run = promisify(execFile)
let root: string
let template: string
let copies = 0

let database: OperatorPostgres

beforeAll(async () => {
  database = await startOperatorPostgres()
  await migrateDeploy(database.url())
  root = await reachableTempFolder('supervision')
  template = join(root, 'template')
  const first = await startService({ EMBEDDED_DATABASE_DIR: template })
  expect(await first.stop()).toBe(0)
}, 180_000)

afterAll(async () => {
  killLeftoverServices()
  await database?.remove()
  await stopLeftoverPostgres()
  await rm(root, { recursive: true, force: true })
})

async function dataFolder (): Promise<string> {
  const dir = join(root, `data-${++copies}`)
  await run('cp', ['-a', template, dir])
  return dir
}

const postmasterPid = async (dir: string) => Number((await readFile(join(dir, 'postmaster.pid'), 'utf8')).split('\n', 1)[0])
const EMBEDDED_READY = ['embedded PostgreSQL started and migrated', 'embedded PostgreSQL joined (already running) and migrated']
const databasePort = (service: ServiceProcess) => service.lines.find((line) => EMBEDDED_READY.includes(String(line.msg)))?.port as number

/** Polls /readyz until the condition holds; every status seen is returned. */
async function readiness (url: string, until: (status: number) => boolean, timeoutMs = 60_000) {
  const seen: number[] = []
  for (const deadline = performance.now() + timeoutMs; performance.now() < deadline;) {
    const status = await probe(url, '/readyz')
    seen.push(status)
    if (until(status)) return seen
    await sleep(50)
  }
  throw new Error(`/readyz never satisfied the condition; seen ${[...new Set(seen)].join(', ')}`)
}

/** PostgreSQL servers still running on this run's folders (a test that failed midway). */
async function stopLeftoverPostgres () {
  for (let copy = 1; copy <= copies; copy++) {
    for (const dir of [join(root, `data-${copy}`), join(root, `data-${copy}-gone`)]) {
      const pid = await postmasterPid(dir).catch(() => 0)
      const command = pid ? await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '') : ''
      if (command.includes(dir)) process.kill(pid, 'SIGQUIT')
    }
  }
}

describe('the embedded PostgreSQL, supervised', () => {
  it('when its postmaster is killed under load, then calls get -32011 for a while, the same process restarts it and serves again, and every acknowledged create is there', async () => {
    const dir = await dataFolder()
    const service = await startService({ EMBEDDED_DATABASE_DIR: dir })
    const load = startWriteLoad({ baseUrl: service.url, prefix: 'pmkill' })
    try {
      await load.acknowledged(50)
      const victim = await postmasterPid(dir)
      process.kill(victim, 'SIGKILL')
      const killedAt = performance.now()

      const down = await readiness(service.url, (status) => status === 503)
      const up = await readiness(service.url, (status) => status === 200)
      await load.acknowledged(50, performance.now())
      await load.stop()

      expect(down.at(-1)).toBe(503)
      expect(up.at(-1)).toBe(200)
      expect(service.running()).toBe(true)
      const outcomes = tally(load.records)
      expect(Object.keys(outcomes).sort()).toEqual(['-32011', 'ok'])
      // The failures came with the kill, not before it.
      expect(load.records.filter((record) => record.outcome === -32011).every((record) => record.settledAt >= killedAt)).toBe(true)

      await service.waitForLine('embedded PostgreSQL restarted', (line) => line.msg === 'embedded PostgreSQL restarted')
      const story = service.lines.map((line) => line.msg)
      expect(story).toContain('embedded PostgreSQL exited unexpectedly')
      expect(story).toContain('restarting embedded PostgreSQL')
      // Started again by this service (it is the only holder), on the port its pool names.
      expect(service.lines.find((line) => line.msg === 'embedded PostgreSQL restarted')).toMatchObject({ how: 'started' })
      expect(await postmasterPid(dir)).not.toBe(victim)
      expect(Number((await readFile(join(dir, 'postmaster.pid'), 'utf8')).split('\n')[3])).toBe(databasePort(service))

      expectAcknowledgedStored(await storedLogins(embeddedDatabaseUrl(dir, databasePort(service)), 'pmkill'), load.records)
    } finally {
      await load.stop()
      service.signal('SIGTERM')
    }
    expect(await service.exited).toBe(0)
  }, 120_000)

  it('when PostgreSQL cannot come back (its data folder is gone), then each restart is logged and the service exits 1', async () => {
    const dir = await dataFolder()
    const service = await startService({ EMBEDDED_DATABASE_DIR: dir, EMBEDDED_DATABASE_RESTARTS: '2' })
    const victim = await postmasterPid(dir)
    await rename(dir, `${dir}-gone`)
    process.kill(victim, 'SIGKILL')
    expect(await service.exited).toBe(1)
    const failures = service.lines.filter((line) => line.msg === 'embedded PostgreSQL restart failed')
    expect(failures.map((line) => line.attempt)).toEqual([1, 2])
    expect(String(failures[0]?.reason)).toContain(dir)
    expect(service.lines.map((line) => line.msg)).toEqual(expect.arrayContaining(['restarting embedded PostgreSQL', 'embedded PostgreSQL could not be restarted']))
    expect(service.lines.some((line) => line.msg === 'shut down cleanly')).toBe(false)
    // It closed at once: stopping a PostgreSQL that is already gone did not wait out the grace period.
    expect(service.lines.find((line) => line.msg === 'shutting down: draining calls in flight')?.databaseLost).toContain(dir)
    expect(service.lines.some((line) => String(line.msg).startsWith('killed by timeout'))).toBe(false)
  }, 120_000)

  it('when the service itself is killed (SIGKILL) under writes, then a new start on the same folder serves (joining the PostgreSQL it left, or starting one after the keeper stopped that), and every acknowledged create is there', async () => {
    const dir = await dataFolder()
    const first = await startService({ EMBEDDED_DATABASE_DIR: dir })
    const load = startWriteLoad({ baseUrl: first.url, prefix: 'svckill' })
    await load.acknowledged(50)
    first.signal('SIGKILL')
    await first.exited
    await load.stop()

    const second = await startService({ EMBEDDED_DATABASE_DIR: dir })
    try {
      // Whichever happened first: the keeper stopped the server once the dead service's lease
      // no longer counted, or the new service joined it still running.
      expect(databasePort(second)).toBeGreaterThan(0)
      expect(await probe(second.url, '/readyz')).toBe(200)
      const stored = await storedLogins(embeddedDatabaseUrl(dir, databasePort(second)), 'svckill')
      const acknowledged = loginsWith(load.records, 'ok')
      expect(acknowledged.size).toBeGreaterThanOrEqual(50)
      for (const login of acknowledged) expect(stored.has(login), login).toBe(true)
      // Only creates that never got an answer may be there beside them; none was refused with an error.
      const unanswered = loginsWith(load.records, 'lost')
      for (const login of stored) expect(acknowledged.has(login) || unanswered.has(login), login).toBe(true)
      expect(Object.keys(tally(load.records)).every((outcome) => ['ok', 'lost', 'refused'].includes(outcome))).toBe(true)
    } finally {
      second.signal('SIGTERM')
    }
    expect(await second.exited).toBe(0)
  }, 120_000)
})

describe('an external database that goes away', () => {
  it('when it stops (immediate) and starts again under writes, then calls get only -32011 while it is down, /readyz says 503, calls recover, and every acknowledged create is there', async () => {
    const service = await startService({ DATABASE_URL: database.url() })
    const load = startWriteLoad({ baseUrl: service.url, prefix: 'outage' })
    try {
      await load.acknowledged(50)
      await database.stop('immediate')
      const downFrom = performance.now()
      // Down for a while under load: at least 1.5 s, and until readiness has said so.
      let readyWhileDown = await probe(service.url, '/readyz')
      await sleep(1500)
      readyWhileDown = Math.max(readyWhileDown, await probe(service.url, '/readyz'))
      const downUntil = performance.now()
      await database.start()
      const backAt = performance.now()
      await load.acknowledged(50, backAt)
      const recoveredAt = load.records.find((record) => record.outcome === 'ok' && record.sentAt >= backAt)?.settledAt ?? Infinity
      await load.stop()

      expect(readyWhileDown).toBe(503)
      expect(await probe(service.url, '/readyz')).toBe(200)
      expect(service.running()).toBe(true)
      expect(Object.keys(tally(load.records)).sort()).toEqual(['-32011', 'ok'])
      const whileDown = load.records.filter((record) => record.sentAt >= downFrom && record.settledAt <= downUntil)
      expect(whileDown.length).toBeGreaterThan(10)
      expect(new Set(whileDown.map((record) => record.outcome))).toEqual(new Set([-32011]))
      // Bounded, not tight: the machine is shared. The pool needs no restart, only a new connection.
      expect(recoveredAt - backAt).toBeLessThan(15_000)

      expectAcknowledgedStored(await storedLogins(database.url(), 'outage'), load.records)
    } finally {
      await load.stop()
      service.signal('SIGTERM')
    }
    expect(await service.exited).toBe(0)
  }, 120_000)
})

/**
 * Every acknowledged create is stored, and nothing else is but creates answered -32011: one
 * of those may have committed just before the server died, its answer lost with it.
 */
describe('the operator\'s server from a shell (what CI runs against Debian\'s PostgreSQL)', () => {
  it('when scripts/operator-postgres.js starts one, then it serves on the port it printed after the script has exited, and remove leaves nothing of it', async () => {
    const { stdout } = await run(process.execPath, ['scripts/operator-postgres.js', 'start'], { timeout: 120_000 })
    const [folder = '', port = ''] = stdout.trim().split(' ')
    try {
      const answer = await withClient(`postgresql://postgres@127.0.0.1:${port}/postgres`, async (client) => (await client.query('SELECT 1 AS one')).rows[0])
      expect(answer).toEqual({ one: 1 })
    } finally {
      await run(process.execPath, ['scripts/operator-postgres.js', 'remove', folder], { timeout: 120_000 })
    }
    await expect(access(folder)).rejects.toThrow()
    expect(await processesWorkingIn(join(folder, 'data'))).toEqual([])
  }, 180_000)
})

function expectAcknowledgedStored (stored: Set<string>, records: CreateRecord[]) {
  for (const login of loginsWith(records, 'ok')) expect(stored.has(login), login).toBe(true)
  const answered = loginsWith(records, 'ok', -32011)
  for (const login of stored) expect(answered.has(login), login).toBe(true)
}
