import { execFile } from 'node:child_process'
import { chmod, mkdtemp, readFile, rename, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { embeddedDatabaseUrl, killLeftoverServices, probe, startServiceChild, type ServiceChild } from './service-child.js'
import { loginsWith, startWriteLoad, storedLogins, tally } from './write-load.js'

/**
 * The default `npm start`: the built service on its embedded PostgreSQL, crashed in the
 * ways a machine crashes it. Each test runs on a copy of one data folder that was
 * initialised and migrated once (cp -a keeps the postgres user's ownership), so none pays
 * for initdb and the migrations.
 */
const run = promisify(execFile)
let root: string
let template: string
let copies = 0

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'user-rpc-supervision-'))
  // Reachable by the `postgres` user when the suite runs as root.
  await chmod(root, 0o755)
  template = join(root, 'template')
  const first = await startServiceChild({ EMBEDDED_DATABASE_DIR: template })
  first.child.kill('SIGTERM')
  expect(await first.exited).toBe(0)
}, 180_000)

afterAll(async () => {
  killLeftoverServices()
  await stopLeftoverPostgres()
  await rm(root, { recursive: true, force: true })
})

async function dataFolder (): Promise<string> {
  const dir = join(root, `data-${++copies}`)
  await run('cp', ['-a', template, dir])
  return dir
}

const postmasterPid = async (dir: string) => Number((await readFile(join(dir, 'postmaster.pid'), 'utf8')).split('\n', 1)[0])
const databasePort = (service: ServiceChild) => service.lines.find((line) => line.msg === 'embedded PostgreSQL started and migrated')?.port as number

/** Polls /readyz until the condition holds; every status seen is returned. */
async function readiness (port: number, until: (status: number) => boolean, timeoutMs = 60_000) {
  const seen: number[] = []
  for (const deadline = performance.now() + timeoutMs; performance.now() < deadline;) {
    const status = await probe(port, '/readyz')
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
    const service = await startServiceChild({ EMBEDDED_DATABASE_DIR: dir })
    const load = startWriteLoad({ port: service.port, prefix: 'pmkill' })
    try {
      await load.acknowledged(50)
      const victim = await postmasterPid(dir)
      process.kill(victim, 'SIGKILL')
      const killedAt = performance.now()

      const down = await readiness(service.port, (status) => status === 503)
      const up = await readiness(service.port, (status) => status === 200)
      await load.acknowledged(50, performance.now())
      await load.stop()

      expect(down.at(-1)).toBe(503)
      expect(up.at(-1)).toBe(200)
      expect(service.running()).toBe(true)
      const outcomes = tally(load.records)
      expect(Object.keys(outcomes).sort()).toEqual(['-32011', 'ok'])
      // The failures came with the kill, not before it.
      expect(load.records.filter((record) => record.outcome === -32011).every((record) => record.settledAt >= killedAt)).toBe(true)

      await service.logged('embedded PostgreSQL restarted')
      const story = service.lines.map((line) => line.msg)
      expect(story).toContain('embedded PostgreSQL exited unexpectedly')
      expect(service.lines.find((line) => line.msg === 'embedded PostgreSQL exited unexpectedly')).toMatchObject({ signal: 'SIGKILL' })
      expect(story).toContain('restarting embedded PostgreSQL')
      expect(await postmasterPid(dir)).not.toBe(victim)

      const stored = await storedLogins(embeddedDatabaseUrl(dir, databasePort(service)), 'pmkill')
      for (const login of loginsWith(load.records, 'ok')) expect(stored.has(login), login).toBe(true)
      // A create answered -32011 may have committed just before the kill; nothing else is there.
      const answered = loginsWith(load.records, 'ok', -32011)
      for (const login of stored) expect(answered.has(login), login).toBe(true)
    } finally {
      await load.stop()
      service.child.kill('SIGTERM')
    }
    expect(await service.exited).toBe(0)
  }, 120_000)

  it('when PostgreSQL cannot come back (its data folder is gone), then each restart is logged and the service exits 1', async () => {
    const dir = await dataFolder()
    const service = await startServiceChild({ EMBEDDED_DATABASE_DIR: dir, EMBEDDED_DATABASE_RESTARTS: '2' })
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

  it('when the service itself is killed (SIGKILL) under writes, then a new start on the same folder stops the orphaned PostgreSQL, serves, and every acknowledged create is there', async () => {
    const dir = await dataFolder()
    const first = await startServiceChild({ EMBEDDED_DATABASE_DIR: dir })
    const load = startWriteLoad({ port: first.port, prefix: 'svckill' })
    await load.acknowledged(50)
    const orphan = await postmasterPid(dir)
    first.child.kill('SIGKILL')
    await first.exited
    await load.stop()

    const second = await startServiceChild({ EMBEDDED_DATABASE_DIR: dir })
    try {
      expect(second.lines.find((line) => String(line.msg).includes('left running'))?.msg).toContain(`pid ${orphan}`)
      expect(await probe(second.port, '/readyz')).toBe(200)
      const stored = await storedLogins(embeddedDatabaseUrl(dir, databasePort(second)), 'svckill')
      const acknowledged = loginsWith(load.records, 'ok')
      expect(acknowledged.size).toBeGreaterThanOrEqual(50)
      for (const login of acknowledged) expect(stored.has(login), login).toBe(true)
      // Only creates that never got an answer may be there beside them; none was refused with an error.
      const unanswered = loginsWith(load.records, 'lost')
      for (const login of stored) expect(acknowledged.has(login) || unanswered.has(login), login).toBe(true)
      expect(Object.keys(tally(load.records)).every((outcome) => ['ok', 'lost', 'refused'].includes(outcome))).toBe(true)
    } finally {
      second.child.kill('SIGTERM')
    }
    expect(await second.exited).toBe(0)
  }, 120_000)
})
