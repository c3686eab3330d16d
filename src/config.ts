import { readFileSync } from 'node:fs'
import { parseEnv } from 'node:util'
import envSchema from 'env-schema'
import type { FromSchema } from 'json-schema-to-ts'
import { DatabaseUrlError, parseDatabaseUrl, splitUrlList } from './database-url.js'

/**
 * Every setting of the service, read from the environment (and a `.env` file if present)
 * and checked against this schema at boot. The README's configuration table and
 * `.env.example` describe the same variables; keep the three together.
 */
const schema = {
  type: 'object',
  properties: {
    NODE_ENV: { type: 'string', enum: ['development', 'production', 'test'], default: 'development' },
    HOST: { type: 'string', minLength: 1, default: '127.0.0.1' },
    PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 8000 },
    LOG_LEVEL: { type: 'string', enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
    TRUST_PROXY: { type: 'boolean', default: false },
    /** Processes serving the port (src/cluster.ts); 1, the default, is this process alone. */
    WORKERS: { type: 'integer', minimum: 1, maximum: 64, default: 1 },

    /** The runtime's URL: PostgreSQL, or PgBouncer in front of it. */
    DATABASE_URL: { type: 'string', pattern: '^postgres(ql)?://' },
    /**
     * A session-level connection to the same database, for migrations (MIGRATE_ON_START and the
     * Prisma CLI) when DATABASE_URL goes through a transaction pooler such as PgBouncer.
     */
    DIRECT_DATABASE_URL: { type: 'string', pattern: '^postgres(ql)?://' },
    /** Streaming replicas for read-only methods, parsed from a comma list; empty: every call on the primary. */
    DATABASE_REPLICA_URLS: { type: 'string', default: '' },
    /** How often a replica that failed is tried again; reads go to the primary meanwhile. */
    DATABASE_REPLICA_RETRY_MS: { type: 'integer', minimum: 100, maximum: 600000, default: 5000 },
    DATABASE_POOL_MAX: { type: 'integer', minimum: 1, maximum: 1000, default: 10 },
    DATABASE_CONNECT_TIMEOUT_MS: { type: 'integer', minimum: 100, maximum: 60000, default: 2000 },
    /** Named prepared statements: opt-in, for direct connections or a pooler that carries them (PgBouncer >= 1.21). */
    DATABASE_PREPARED_STATEMENTS: { type: 'boolean', default: false },
    EMBEDDED_DATABASE_DIR: { type: 'string', minLength: 1, default: '.data/postgres' },
    /** Unset: the port the data folder last ran on; 0: a free port at each start. */
    EMBEDDED_DATABASE_PORT: { type: 'integer', minimum: 0, maximum: 65535 },
    /** Restarts of the embedded PostgreSQL after it stops unexpectedly, before the service exits 1. */
    EMBEDDED_DATABASE_RESTARTS: { type: 'integer', minimum: 0, maximum: 100, default: 5 },
    /** Apply pending migrations (through DIRECT_DATABASE_URL if set) before serving; needs the Prisma CLI. The embedded database always is. */
    MIGRATE_ON_START: { type: 'boolean', default: false },

    /** Unset: the server's default (PostgreSQL's is ReadCommitted), with no extra statement per call. */
    TX_ISOLATION_LEVEL: { type: 'string', enum: ['ReadCommitted', 'RepeatableRead', 'Serializable'] },
    TX_TIMEOUT_MS: { type: 'integer', minimum: 100, maximum: 600000, default: 5000 },
    TX_MAX_WAIT_MS: { type: 'integer', minimum: 10, maximum: 60000, default: 2000 },
    TX_MAX_RETRIES: { type: 'integer', minimum: 0, maximum: 10, default: 3 },
    /** How long an idempotency key answers repeats of its call; older keys are removed in the background. */
    IDEMPOTENCY_TTL_HOURS: { type: 'integer', minimum: 1, maximum: 8760, default: 24 },

    RPC_BODY_LIMIT_BYTES: { type: 'integer', minimum: 1024, maximum: 16777216, default: 262144 },
    RPC_BATCH_MAX: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
    /** Members of one batch that run at once; derived from the pool size when unset. */
    RPC_BATCH_CONCURRENCY: { type: 'integer', minimum: 1, maximum: 1000 },
    /**
     * Calls running at once, batch members included; past it, -32011 at once. The default sits
     * above what 128 clients sending batches reach (128 x RPC_BATCH_CONCURRENCY = 512), so it
     * guards against floods without refusing a load the pool's queue would serve in time.
     */
    RPC_MAX_IN_FLIGHT: { type: 'integer', minimum: 1, maximum: 100000, default: 1024 },
    /** Where the XML-RPC bridge answers (src/xmlrpc/); unset: no such endpoint. */
    XMLRPC_PATH: { type: 'string', pattern: '^/[A-Za-z0-9._~/-]*$' },

    SHUTDOWN_GRACE_MS: { type: 'integer', minimum: 0, maximum: 600000, default: 10000 },
    REQUEST_TIMEOUT_MS: { type: 'integer', minimum: 0, maximum: 600000, default: 30000 },
    CONNECTION_TIMEOUT_MS: { type: 'integer', minimum: 0, maximum: 3600000, default: 120000 },
    KEEP_ALIVE_TIMEOUT_MS: { type: 'integer', minimum: 0, maximum: 600000, default: 72000 },
    READINESS_TIMEOUT_MS: { type: 'integer', minimum: 10, maximum: 60000, default: 1000 },

    /** Parsed from `id:scope:secret,...`; empty means open access (development only). */
    API_KEYS: { type: 'string', default: '' },
    METRICS_TOKEN: { type: 'string', default: '' },
    RATE_LIMIT_WINDOW_MS: { type: 'integer', minimum: 1000, maximum: 3600000, default: 60000 },
    /** Calls per window for one API key (0, the default: no limit; the in-flight cap guards overload). */
    RATE_LIMIT_PER_KEY: { type: 'integer', minimum: 0, maximum: 10000000, default: 0 },
    /** Requests per window from one client address (0, the default: no limit). */
    RATE_LIMIT_PER_IP: { type: 'integer', minimum: 0, maximum: 10000000, default: 0 },
    ALLOW_INSECURE_PRODUCTION: { type: 'boolean', default: false },
  },
} as const

/** Every variable the service reads, for the docs test that keeps README and .env.example whole. */
export const configVariables = Object.keys(schema.properties)

export type IsolationLevel = NonNullable<Config['TX_ISOLATION_LEVEL']>

/**
 * The variables as the schema checks them (defaulted ones always present), before parsing.
 * Typed as closed: the environment holds much else, which the schema lets pass and nothing reads.
 */
type CheckedEnvironment = FromSchema<{ type: 'object', properties: typeof schema.properties, additionalProperties: false }>

/**
 * The settings as the service uses them: the schema's types, with the lists parsed and the
 * batch concurrency filled in (loadConfig). Derived, so a variable added to the schema is typed.
 */
export type Config = Omit<CheckedEnvironment, 'API_KEYS' | 'DATABASE_REPLICA_URLS' | 'RPC_BATCH_CONCURRENCY'> & {
  API_KEYS: ApiKeySpec[]
  DATABASE_REPLICA_URLS: string[]
  RPC_BATCH_CONCURRENCY: number
}

export interface ApiKeySpec {
  id: string
  scope: 'read' | 'write'
  secret: string
}

const MIN_SECRET_LENGTH = 16

/** Paths the service already serves, so the XML-RPC bridge cannot take one of them. */
const TAKEN_PATHS = ['/rpc', '/healthz', '/readyz', '/metrics']

/** `API_KEYS=billing:write:<secret>,reports:read:<secret>`; secrets are never logged. */
function parseApiKeys (text: string): ApiKeySpec[] {
  const entries = text.split(',').map((entry) => entry.trim()).filter(Boolean)
  const keys = entries.map((entry, index) => {
    const [id, scope, ...rest] = entry.split(':')
    const secret = rest.join(':')
    if (!id || !/^[\w.-]{1,64}$/.test(id)) throw new ConfigError(`invalid configuration: API_KEYS entry ${index + 1} needs an id of letters, digits, _ . - (id:scope:secret)`)
    if (scope !== 'read' && scope !== 'write') throw new ConfigError(`invalid configuration: API_KEYS entry "${id}" has scope "${scope ?? ''}"; use read or write`)
    if (secret.length < MIN_SECRET_LENGTH) throw new ConfigError(`invalid configuration: API_KEYS entry "${id}" has a secret shorter than ${MIN_SECRET_LENGTH} characters`)
    return { id, scope, secret } satisfies ApiKeySpec
  })
  const ids = new Set(keys.map((key) => key.id))
  if (ids.size !== keys.length) throw new ConfigError('invalid configuration: API_KEYS has the same id twice')
  return keys
}

/**
 * `postgresql://…,postgresql://…`: each must be a PostgreSQL URL (one host or several); the
 * position names it in errors, never the URL.
 */
function parseReplicaUrls (text: string): string[] {
  const urls = splitUrlList(text)
  urls.forEach((url, index) => checkDatabaseUrl(`DATABASE_REPLICA_URLS entry ${index + 1}`, url))
  return urls
}

/** libpq's meaning, checked at start (src/database-url.ts): a URL pg would misread is refused here. */
function checkDatabaseUrl (name: string, url: string) {
  try {
    return parseDatabaseUrl(url)
  } catch (error) {
    if (error instanceof DatabaseUrlError) throw new ConfigError(`invalid configuration: ${name} ${error.message}`)
    throw error
  }
}

/**
 * DATABASE_URL and DIRECT_DATABASE_URL must reach the server that takes writes: with several
 * hosts, only a libpq rule that picks it (read-write, or primary) does; a standby-seeking rule
 * would send every write to a server that refuses it.
 */
function checkWritableUrl (name: string, url: string | undefined) {
  if (!url) return
  const { hosts, targetSessionAttrs } = checkDatabaseUrl(name, url)
  if (['read-only', 'standby', 'prefer-standby'].includes(targetSessionAttrs)) {
    throw new ConfigError(`invalid configuration: ${name} has target_session_attrs=${targetSessionAttrs}, but writes need the primary: use read-write (standbys belong in DATABASE_REPLICA_URLS)`)
  }
  if (hosts.length > 1 && targetSessionAttrs === 'any') {
    throw new ConfigError(`invalid configuration: ${name} lists ${hosts.length} hosts without target_session_attrs=read-write, so writes could reach a standby: add ?target_session_attrs=read-write (as \`pg_autoctl show uri\` prints it)`)
  }
}

export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** The process environment over a `.env` file, if there is one: the environment wins. */
export function readEnvironment (envFile = '.env'): Record<string, string | undefined> {
  let fromFile: Record<string, string | undefined> = {}
  try {
    fromFile = parseEnv(readFileSync(envFile, 'utf8'))
  } catch (error) {
    if ((error as { code?: string }).code !== 'ENOENT') throw error
  }
  return { ...fromFile, ...process.env }
}

/**
 * Reads and validates the configuration (by default from `readEnvironment()`); a bad value
 * throws a ConfigError whose message names the variable.
 */
export function loadConfig (source: Record<string, string | undefined> = readEnvironment()): Config {
  let raw: CheckedEnvironment
  try {
    raw = envSchema<typeof raw>({
      schema: structuredClone(schema),
      // `NAME=` (empty) means unset, as in .env.example and most container specs.
      data: Object.fromEntries(Object.entries(source).filter(([, value]) => value !== undefined && value !== '')),
      env: false,
      dotenv: false,
    })
  } catch (error) {
    throw new ConfigError(`invalid configuration: ${(error as Error).message.replaceAll('env/', '')}`)
  }
  // One batch may use at most half the pool, so other requests always find a connection.
  const batchCeiling = Math.max(1, Math.floor(raw.DATABASE_POOL_MAX / 2))
  const concurrency = raw.RPC_BATCH_CONCURRENCY ?? Math.min(4, batchCeiling)
  if (concurrency > batchCeiling) {
    throw new ConfigError(`invalid configuration: RPC_BATCH_CONCURRENCY must be <= ${batchCeiling} (half of DATABASE_POOL_MAX)`)
  }
  if (raw.XMLRPC_PATH && TAKEN_PATHS.includes(raw.XMLRPC_PATH)) {
    throw new ConfigError(`invalid configuration: XMLRPC_PATH must not be ${raw.XMLRPC_PATH}, which another route serves`)
  }
  checkWritableUrl('DATABASE_URL', raw.DATABASE_URL)
  checkWritableUrl('DIRECT_DATABASE_URL', raw.DIRECT_DATABASE_URL)
  const replicaUrls = parseReplicaUrls(raw.DATABASE_REPLICA_URLS)
  if (replicaUrls.length > 0 && !raw.DATABASE_URL) {
    throw new ConfigError('invalid configuration: DATABASE_REPLICA_URLS needs DATABASE_URL (replicas of the embedded database do not exist)')
  }
  const config: Config = { ...raw, RPC_BATCH_CONCURRENCY: concurrency, API_KEYS: parseApiKeys(raw.API_KEYS), DATABASE_REPLICA_URLS: replicaUrls }
  refuseUnsafeProduction(config)
  return config
}

/** What the developer's tools (Prisma CLI, seed, `npm run db:url`) read: where the database is. */
export type ToolConfig = Pick<Config, 'DATABASE_URL' | 'DIRECT_DATABASE_URL' | 'EMBEDDED_DATABASE_DIR' | 'EMBEDDED_DATABASE_PORT'>

const TOOL_VARIABLES = ['DATABASE_URL', 'DIRECT_DATABASE_URL', 'EMBEDDED_DATABASE_DIR', 'EMBEDDED_DATABASE_PORT'] as const

/**
 * The database settings alone, checked by the same rules and defaults as the service's: a tool
 * must find the database the service uses, and must not fail over a setting only serving
 * needs (API keys in production, say).
 */
export function loadToolConfig (source: Record<string, string | undefined> = readEnvironment()): ToolConfig {
  const properties = Object.fromEntries(TOOL_VARIABLES.map((name) => [name, schema.properties[name]]))
  let config: ToolConfig
  try {
    config = envSchema<ToolConfig>({
      schema: { type: 'object', properties: structuredClone(properties) },
      data: Object.fromEntries(Object.entries(source).filter(([name, value]) => (TOOL_VARIABLES as readonly string[]).includes(name) && value !== undefined && value !== '')),
      env: false,
      dotenv: false,
    })
  } catch (error) {
    throw new ConfigError(`invalid configuration: ${(error as Error).message.replaceAll('env/', '')}`)
  }
  checkWritableUrl('DATABASE_URL', config.DATABASE_URL)
  checkWritableUrl('DIRECT_DATABASE_URL', config.DIRECT_DATABASE_URL)
  return config
}

/** Production refuses what is only fit for a laptop, unless the operator says otherwise. */
function refuseUnsafeProduction (config: Config) {
  if (config.NODE_ENV !== 'production' || config.ALLOW_INSECURE_PRODUCTION) return
  if (config.API_KEYS.length === 0) {
    throw new ConfigError('invalid configuration: API_KEYS is empty with NODE_ENV=production (set keys, or ALLOW_INSECURE_PRODUCTION=true)')
  }
  if (!config.DATABASE_URL) {
    throw new ConfigError('invalid configuration: DATABASE_URL is unset with NODE_ENV=production, which would use the embedded database (set it, or ALLOW_INSECURE_PRODUCTION=true)')
  }
}
