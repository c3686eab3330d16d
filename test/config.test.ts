import { describe, expect, it } from 'vitest'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseEnv } from 'node:util'
import { ConfigError, loadConfig } from '../src/config.js'
import { projectRoot } from '../src/paths.js'

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
