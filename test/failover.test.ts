import { rm } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  failoverStates,
  performSwitchover,
  processesWorkingIn,
  reachableTempFolder,
  startFailoverMonitor,
  startFailoverNode,
  waitForFailoverSettled,
  withClient,
  type FailoverMonitor,
  type FailoverNode,
} from '../scripts/postgres-topology.js'
import { loginsWith, probe, startWriteLoad, tally, type CreateRecord, type WriteLoad } from './support/clients.js'
import { storedLogins } from './support/database.js'
import { startService, type ServiceProcess } from './support/processes.js'

/**
 * docs/high-availability.md, proven with pg_auto_failover (Debian's packages) on 127.0.0.1: a
 * monitor and two nodes, the service on the multi-host URL `pg_autoctl show uri` prints, under
 * a write load whose every answer is recorded. A planned switchover, then the primary's
 * machine dying (SIGKILL of its pg_autoctl and postgres). After each: the same service process
 * writes again, every answer was a result or -32011/-32010, and every acknowledged create is
 * on the primary that took over.
 *
 * pg_auto_failover's defaults take ~33 s to promote after a kill; these settings, its own,
 * shorten the wait (the documented rule kept: a keeper's network_partition_timeout below the
 * monitor's primary_demote_timeout, so a cut-off primary demotes itself first).
 */
const MONITOR_SETTINGS = {
  'pgautofailover.health_check_period': 1000,
  'pgautofailover.health_check_timeout': 1000,
  'pgautofailover.health_check_max_retries': 1,
  'pgautofailover.health_check_retry_delay': 500,
  'pgautofailover.node_considered_unhealthy_timeout': 3000,
  'pgautofailover.primary_demote_timeout': 6000,
}
const KEEPER_TIMEOUTS = { network_partition_timeout: 4, prepare_promotion_walreceiver: 1 }
const DATABASE = 'user_rpc'
/** The bound: writes served again by the same process within 45 s of the kill. */
const RECOVERY_BOUND_MS = 45_000

let root: string
let monitor: FailoverMonitor | undefined
const nodes: FailoverNode[] = []
let service: ServiceProcess | undefined

const nodeNamed = (name: string) => {
  const node = nodes.find((candidate) => candidate.name === name)
  if (!node) throw new Error(`no node ${name}`)
  return node
}

beforeAll(async () => {
  root = await reachableTempFolder('ha')
  monitor = await startFailoverMonitor({ root, settings: MONITOR_SETTINGS })
  for (const name of ['node1', 'node2']) nodes.push(await startFailoverNode(monitor, { root, name, database: DATABASE, timeouts: KEEPER_TIMEOUTS }))
  // The standby first: libpq's rule, not the order, must find the primary. As
  // `pg_autoctl show uri --formation default` prints it otherwise; migrations go through it too.
  const primary = await waitForFailoverSettled(monitor)
  const hosts = [...nodes].sort((a, b) => Number(a.name === primary) - Number(b.name === primary)).map((node) => `127.0.0.1:${node.port}`).join(',')
  service = await startService({
    DATABASE_URL: `postgresql://postgres@${hosts}/${DATABASE}?target_session_attrs=read-write`,
    MIGRATE_ON_START: 'true',
    DATABASE_CONNECT_TIMEOUT_MS: '5000',
  })
}, 420_000)

/** Stops the service, the nodes and the monitor, once. */
async function stopFormation () {
  await service?.stop()
  service = undefined
  for (const node of nodes.splice(0)) await node.stop()
  await monitor?.stop()
  monitor = undefined
}

afterAll(async () => {
  await stopFormation()
  if (root) await rm(root, { recursive: true, force: true })
}, 120_000)

/** Every call was answered by the service: a result, unavailable, or a conflict, nothing else. */
function expectOnlyResultsOrRetryable (records: CreateRecord[]) {
  expect(Object.keys(tally(records)).every((outcome) => ['ok', '-32011', '-32010'].includes(outcome)), JSON.stringify(tally(records))).toBe(true)
}

/** Acknowledged creates are all on `primary`, and nothing is there that was not sent and answered so. */
async function expectAcknowledgedOn (primary: FailoverNode, prefix: string, records: CreateRecord[]) {
  const stored = await storedLogins(primary.url(), prefix)
  const missing = [...loginsWith(records, 'ok')].filter((login) => !stored.has(login))
  expect(missing).toEqual([])
  const answered = loginsWith(records, 'ok', -32011, -32010)
  expect([...stored].filter((login) => !answered.has(login))).toEqual([])
}

/** The first create acknowledged that was sent after `since`: when writes were served again. */
const firstAcknowledgedAfter = (records: CreateRecord[], since: number) =>
  Math.min(...records.filter((record) => record.outcome === 'ok' && record.sentAt >= since).map((record) => record.settledAt))

async function waitForReadiness (url: string, wanted: number, timeoutMs = 90_000) {
  const deadline = performance.now() + timeoutMs
  while (performance.now() < deadline) {
    if (await probe(url, '/readyz') === wanted) return
    await sleep(50)
  }
  throw new Error(`/readyz never answered ${wanted} within ${timeoutMs} ms`)
}

describe('following a pg_auto_failover formation (docs/high-availability.md)', () => {
  it('when the URL names the standby first, then every write goes to the primary from the first call (target_session_attrs=read-write)', async () => {
    if (!monitor || !service) throw new Error('no formation')
    const primary = nodeNamed((await failoverStates(monitor)).find((node) => node.reported === 'primary')?.name ?? '')
    const load = startWriteLoad({ baseUrl: service.url, prefix: 'ordered' })
    try {
      await load.acknowledged(20)
      await load.stop()
      expect(tally(load.records)).toEqual({ ok: load.records.length })
      await expectAcknowledgedOn(primary, 'ordered', load.records)
    } finally {
      await load.stop()
    }
  }, 120_000)

  it('when the primary hands over in a planned switchover under writes, then the same process writes to the new primary and every acknowledged create is there', async () => {
    if (!monitor || !service) throw new Error('no formation')
    const before = (await failoverStates(monitor)).find((node) => node.reported === 'primary')?.name
    const load: WriteLoad = startWriteLoad({ baseUrl: service.url, prefix: 'switchover' })
    try {
      await load.acknowledged(30)
      const startedAt = performance.now()
      await performSwitchover(nodeNamed(before ?? 'node1'))
      const after = await waitForFailoverSettled(monitor)
      expect(after).not.toBe(before)
      await load.acknowledged(30, performance.now())
      await load.stop()

      expect(service.running()).toBe(true)
      expectOnlyResultsOrRetryable(load.records)
      await expectAcknowledgedOn(nodeNamed(after), 'switchover', load.records)
      const failed = load.records.filter((record) => record.outcome !== 'ok')
      console.log(`switchover: ${Math.round(performance.now() - startedAt)} ms from the command to settled; outcomes ${JSON.stringify(tally(load.records))}; failed calls spanned ${failed.length ? Math.round(Math.max(...failed.map((record) => record.settledAt)) - Math.min(...failed.map((record) => record.sentAt))) : 0} ms`)
    } finally {
      await load.stop()
    }
  }, 240_000)

  it('when the primary turns read-only under writes (as a demoted primary left running would), then writes answer -32011, not -32603, and are served again once it takes writes', async () => {
    if (!monitor || !service) throw new Error('no formation')
    const primary = nodeNamed((await failoverStates(monitor)).find((node) => node.reported === 'primary')?.name ?? '')
    const load = startWriteLoad({ baseUrl: service.url, prefix: 'readonly' })
    try {
      await load.acknowledged(20)
      const since = performance.now()
      // Lines from here on: a switchover drains the old primary read-only too.
      const lines = service.lines
      const from = lines.length
      await withClient(primary.url(), async (client) => { await client.query('ALTER SYSTEM SET default_transaction_read_only = on'); await client.query('SELECT pg_reload_conf()') })
      // A pooled connection's write meets 25006; a new one finds no host that takes writes.
      await service.waitForLine('a write refused as read-only', (line) => lines.indexOf(line) >= from && line.msg === 'database unavailable' && /read-only|25006/.test(String(line.reason)))
      await withClient(primary.url(), async (client) => { await client.query('ALTER SYSTEM RESET default_transaction_read_only'); await client.query('SELECT pg_reload_conf()') })
      await load.acknowledged(20, performance.now())
      await load.stop()

      expectOnlyResultsOrRetryable(load.records)
      expect(load.records.some((record) => record.outcome === -32011 && record.sentAt >= since)).toBe(true)
      await expectAcknowledgedOn(primary, 'readonly', load.records)
    } finally {
      await load.stop()
    }
  }, 120_000)

  it('when the primary\'s pg_autoctl and postgres are killed under writes, then calls answer -32011 and /readyz 503 until the standby is promoted, and the same process writes again within 45 s with every acknowledged create on it', async () => {
    if (!monitor || !service) throw new Error('no formation')
    const primaryName = (await failoverStates(monitor)).find((node) => node.reported === 'primary')?.name ?? ''
    const victim = nodeNamed(primaryName)
    const survivor = nodes.find((node) => node !== victim)
    if (!survivor) throw new Error('no standby')
    const load = startWriteLoad({ baseUrl: service.url, prefix: 'failover' })
    try {
      await load.acknowledged(30)
      victim.kill()
      const killedAt = performance.now()
      await waitForReadiness(service.url, 503)
      await waitForReadiness(service.url, 200)
      await load.acknowledged(30, killedAt, 90_000)
      await load.stop()

      const recoveredMs = firstAcknowledgedAfter(load.records, killedAt) - killedAt
      console.log(`failover: writes served again ${Math.round(recoveredMs)} ms after the kill; outcomes ${JSON.stringify(tally(load.records))}`)
      expect(recoveredMs).toBeLessThan(RECOVERY_BOUND_MS)
      expect(service.running()).toBe(true)
      expectOnlyResultsOrRetryable(load.records)
      // The outage was seen as -32011: fast answers, not hung calls.
      expect(load.records.some((record) => record.outcome === -32011 && record.sentAt >= killedAt)).toBe(true)
      await expectAcknowledgedOn(survivor, 'failover', load.records)
      const promoted = (await failoverStates(monitor)).find((node) => node.name === survivor.name)
      expect(['wait_primary', 'primary']).toContain(promoted?.reported)
    } finally {
      await load.stop()
    }
  }, 240_000)
})

describe('when the formation stops', () => {
  it('then no process of its monitor or nodes is left running', async () => {
    await stopFormation()
    // Every PostgreSQL process works in its data folder: a health-check worker or logger that
    // outlived its postmaster would still be found here.
    expect(await processesWorkingIn(root)).toEqual([])
  }, 120_000)
})
