import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseEnv } from 'node:util'
import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../src/config.js'
import { projectRoot } from '../src/paths.js'
import { testDatabaseUrl } from './support/database.js'
import { runServiceToExit } from './support/processes.js'

/** README, Configuration: the schema, its defaults, and a bad setting stopping the process. */

describe('configuration', () => {
  it('when nothing is set, then the documented defaults apply', () => {
    const config = loadConfig({})
    expect(config).toMatchObject({ HOST: '127.0.0.1', PORT: 8000, EMBEDDED_DATABASE_DIR: '.data/postgres', DATABASE_POOL_MAX: 10, RPC_BATCH_CONCURRENCY: 4, RPC_BATCH_MAX: 100, RPC_MAX_IN_FLIGHT: 1024 })
    // No rate limit by default: a safety net must not bind below the service's own capacity.
    expect(config).toMatchObject({ RATE_LIMIT_PER_IP: 0, RATE_LIMIT_PER_KEY: 0 })
    expect(config.DATABASE_URL).toBeUndefined()
  })

  it.each([
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['DATABASE_URL', 'mysql://x'],
    ['TX_ISOLATION_LEVEL', 'Chaos'],
    ['DATABASE_POOL_MAX', '0'],
  ])('when %s is %s, then loading fails with a message naming it', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError)
    expect(() => loadConfig({ [name]: value })).toThrow(name)
  })

  it('when .env.example is copied to .env as it is, then it loads and gives the defaults', () => {
    const example = parseEnv(readFileSync(join(projectRoot, '.env.example'), 'utf8'))
    expect(loadConfig(example)).toEqual(loadConfig({}))
  })

  it('when batch concurrency exceeds half the pool, then it is refused', () => {
    expect(() => loadConfig({ DATABASE_POOL_MAX: '4', RPC_BATCH_CONCURRENCY: '3' })).toThrow(/RPC_BATCH_CONCURRENCY/)
    expect(loadConfig({ DATABASE_POOL_MAX: '4' }).RPC_BATCH_CONCURRENCY).toBe(2)
  })
})

// Starting processes takes seconds, and many times that on a loaded machine.
describe.concurrent('the process with a bad configuration', { timeout: 120_000 }, () => {
  it.each([
    ['PORT', 'eighty'],
    ['TX_ISOLATION_LEVEL', 'Sometimes'],
    ['API_KEYS', 'ops:admin:0123456789abcdef0'],
  ])('when %s is %s, then it exits 1 with one line naming the variable and no stack', async (name, value) => {
    const run = await runServiceToExit({ [name]: value })
    expect(run.code).toBe(1)
    expect(run.stderr.trim().split('\n')).toHaveLength(1)
    expect(run.stderr).toContain(name)
    expect(run.stderr).not.toMatch(/\bat .+:\d+:\d+/)
  })

  it('when NODE_ENV=production has no API keys, then it refuses to start unless told otherwise', async () => {
    const run = await runServiceToExit({ NODE_ENV: 'production', DATABASE_URL: testDatabaseUrl() })
    expect(run.code).toBe(1)
    expect(run.stderr).toContain('API_KEYS')
  })
})

describe('scale-out settings (docs/scaling.md)', () => {
  const base = { NODE_ENV: 'test', DATABASE_URL: 'postgresql://u@127.0.0.1/db' }

  it('when they are valid, then they are read: workers, replica URLs as a list, the direct URL', () => {
    const config = loadConfig({ ...base, WORKERS: '4', DIRECT_DATABASE_URL: 'postgresql://owner@127.0.0.1:5432/db', DATABASE_REPLICA_URLS: ' postgresql://r@10.0.0.2/db , postgres://r@10.0.0.3/db ' })
    expect(config).toMatchObject({
      WORKERS: 4,
      DIRECT_DATABASE_URL: 'postgresql://owner@127.0.0.1:5432/db',
      DATABASE_REPLICA_URLS: ['postgresql://r@10.0.0.2/db', 'postgres://r@10.0.0.3/db'],
      DATABASE_REPLICA_RETRY_MS: 5000,
    })
    expect(loadConfig(base)).toMatchObject({ WORKERS: 1, DATABASE_REPLICA_URLS: [] })
  })

  it('when they are not, then the configuration is refused with a line naming the variable and never a URL', () => {
    const refusal = (env: Record<string, string>) => {
      try {
        loadConfig(env)
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError)
        return (error as Error).message
      }
      return 'accepted'
    }
    expect(refusal({ NODE_ENV: 'test', DATABASE_REPLICA_URLS: 'postgresql://r@10.0.0.2/db' })).toMatch(/DATABASE_REPLICA_URLS needs DATABASE_URL/)
    const bad = refusal({ ...base, DATABASE_REPLICA_URLS: 'postgresql://r@10.0.0.2/db,mysql://r:hunter22@10.0.0.3/db' })
    expect(bad).toMatch(/DATABASE_REPLICA_URLS entry 2 is not a postgresql:\/\/ URL/)
    expect(bad).not.toContain('hunter22')
    expect(refusal({ ...base, WORKERS: '0' })).toMatch(/WORKERS/)
    expect(refusal({ ...base, DIRECT_DATABASE_URL: 'mysql://x' })).toMatch(/DIRECT_DATABASE_URL/)
  })
})

describe('multi-host URLs (docs/high-availability.md)', () => {
  const refusal = (env: Record<string, string>) => {
    try {
      loadConfig({ NODE_ENV: 'test', ...env })
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError)
      return (error as Error).message
    }
    return 'accepted'
  }

  it('when a URL lists hosts as pg_autoctl prints it, then it is read, and a replica list keeps its multi-host entries whole', () => {
    const primary = 'postgresql://app:s3cret-pass@10.0.0.1:6010,10.0.0.2:6011,[::1]/db?target_session_attrs=read-write&connect_timeout=3'
    const replicas = 'postgresql://r@10.0.0.1:6010,10.0.0.2:6011/db?target_session_attrs=prefer-standby,postgres://r@10.0.0.3/db'
    const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: primary, DIRECT_DATABASE_URL: primary, DATABASE_REPLICA_URLS: replicas })
    expect(config.DATABASE_URL).toBe(primary)
    expect(config.DATABASE_REPLICA_URLS).toEqual([
      'postgresql://r@10.0.0.1:6010,10.0.0.2:6011/db?target_session_attrs=prefer-standby',
      'postgres://r@10.0.0.3/db',
    ])
    expect(refusal({ DATABASE_URL: 'postgresql://u@h1:5432/db?target_session_attrs=primary' })).toBe('accepted')
  })

  it('when a URL cannot bring writes to the primary or is not libpq\'s, then it is refused with a line naming the variable and the cure, never the password', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ DATABASE_URL: 'postgresql://u:hunter22@h1:1,h2:2/db' }, /DATABASE_URL lists 2 hosts without target_session_attrs=read-write.*add \?target_session_attrs=read-write/],
      [{ DATABASE_URL: 'postgresql://u:hunter22@h1:1,h2:2/db?target_session_attrs=standby' }, /DATABASE_URL has target_session_attrs=standby, but writes need the primary/],
      [{ DIRECT_DATABASE_URL: 'postgresql://u:hunter22@h1:1,h2:2/db?target_session_attrs=any' }, /DIRECT_DATABASE_URL lists 2 hosts/],
      [{ DATABASE_URL: 'postgresql://u:hunter22@h1:1,h2:2/db?target_session_attrs=readwrite' }, /DATABASE_URL has target_session_attrs=readwrite; libpq's values are any, read-write/],
      [{ DATABASE_URL: 'postgresql://u:hunter22@h1:99999/db' }, /DATABASE_URL port 99999 of h1 is not 1-65535/],
      [{ DATABASE_URL: 'postgresql://u:hunter22@h1,/db' }, /DATABASE_URL "" is not host or host:port/],
      [{ DATABASE_URL: 'postgresql://u:hunter22@h1,h2/db?target_session_attrs=read-write&load_balance_hosts=random' }, /load_balance_hosts=random.*tried in the order given/],
      [{ DATABASE_URL: 'postgresql://u:hunter22@h1/db?connect_timeout=soon' }, /connect_timeout=soon; it is whole seconds/],
      [{ DATABASE_URL: 'postgresql://u@h/db', DATABASE_REPLICA_URLS: 'postgresql://r:hunter22@h1:1,h2:x/db' }, /DATABASE_REPLICA_URLS entry 1 "h2:x" is not host or host:port/],
    ]
    for (const [env, expected] of cases) {
      const message = refusal(env)
      expect(message, JSON.stringify(env)).toMatch(expected)
      expect(message).not.toContain('hunter22')
    }
  })
})
