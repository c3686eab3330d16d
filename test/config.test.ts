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
