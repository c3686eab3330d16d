// @ts-check
// The driver adapter the wasm engine talks to PostgreSQL through:
// @prisma/adapter-pg, with the fixes the schema engine needs.
import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { PrismaPg } from '@prisma/adapter-pg'
import { ColumnTypeEnum, bindMigrationAwareSqlAdapterFactory } from '@prisma/driver-adapter-utils'

/**
 * @typedef {{ url: string, shadowDatabaseUrl?: string | undefined }} Datasource
 * @typedef {Awaited<ReturnType<PrismaPg['connect']>>} PgAdapter
 * @typedef {import('@prisma/driver-adapter-utils').SqlQuery} SqlQuery
 */

const CHAR_OID = 18 // the one-byte catalog type "char": pg_constraint.contype, pg_class.relkind, …
const TEXT_OID = 25

/**
 * The engine reads "char" catalog columns as one-character values, which is
 * what the native driver returns, but the adapter has no mapping for OID 18
 * and rejects any result holding one ("Column type 'char' could not be
 * deserialized"). Hand such columns to the adapter as text, then retype
 * them as Character; the rows array links the two steps.
 * @template {import('@prisma/driver-adapter-utils').SqlQueryable} Q
 * @param {Q} queryable a PgAdapter or one of its transactions
 * @returns {Q}
 */
function decodeCharColumns (queryable) {
  // performIO is the adapter's private step that runs the query and returns
  // pg's result, field OIDs included.
  const internals = /** @type {{ performIO (query: SqlQuery): Promise<pg.QueryArrayResult> }} */ (
    /** @type {unknown} */ (queryable))
  if (typeof internals.performIO !== 'function') {
    throw new Error('@prisma/adapter-pg no longer has PgQueryable#performIO; update tools/schema-engine/adapter.js')
  }
  const performIO = internals.performIO.bind(queryable)
  const queryRaw = queryable.queryRaw.bind(queryable)
  /** @type {WeakMap<unknown[], number[]>} */
  const charColumns = new WeakMap()

  internals.performIO = async (query) => {
    const result = await performIO(query)
    /** @type {number[]} */
    const indices = []
    result.fields.forEach((field, index) => {
      if (field.dataTypeID !== CHAR_OID) return
      field.dataTypeID = TEXT_OID
      indices.push(index)
    })
    if (indices.length > 0) charColumns.set(result.rows, indices)
    return result
  }
  queryable.queryRaw = async (query) => {
    const result = await queryRaw(query)
    for (const index of charColumns.get(result.rows) ?? []) result.columnTypes[index] = ColumnTypeEnum.Character
    return result
  }
  return queryable
}

/**
 * Splits `?schema=` off a Prisma-style URL: pg does not know it, the
 * engine needs it as the connection's schema and search_path.
 * @param {string} url
 */
function parseUrl (url) {
  const parsed = new URL(url)
  const schema = parsed.searchParams.get('schema') ?? undefined
  parsed.searchParams.delete('schema')
  return { parsed, schema }
}

/** @param {string} identifier */
const quoteIdent = (identifier) => `"${identifier.replaceAll('"', '""')}"`

/**
 * One pooled connection only: the engine takes the migration advisory lock
 * with one query and migrates with the next ones, which must land on the
 * same session.
 * @param {string} url
 * @param {() => Promise<void>} [afterDispose]
 * @returns {Promise<PgAdapter>}
 */
async function connect (url, afterDispose) {
  const { parsed, schema } = parseUrl(url)
  const pool = new pg.Pool({
    connectionString: parsed.toString(),
    max: 1,
    onConnect: schema ? (client) => client.query(`SET search_path TO ${quoteIdent(schema)}`) : undefined,
  })
  const adapter = decodeCharColumns(await new PrismaPg(pool, { schema, disposeExternalPool: true }).connect())
  const startTransaction = adapter.startTransaction.bind(adapter)
  adapter.startTransaction = async (isolationLevel) => decodeCharColumns(await startTransaction(isolationLevel))

  // The stock executeScript splits on ';', which breaks $$-quoted function
  // bodies and string literals. PostgreSQL runs a multi-statement simple
  // query itself, as one implicit transaction, like the native engine does.
  adapter.executeScript = async (script) => {
    try {
      await pool.query(script)
    } catch (error) {
      adapter['onError'](error) // rethrows as the adapter's typed error
    }
  }
  if (afterDispose) {
    const dispose = adapter.dispose.bind(adapter)
    adapter.dispose = async () => {
      try { await dispose() } finally { await afterDispose() }
    }
  }
  return adapter
}

/**
 * Runs `fn` on a short-lived connection of its own, so database-level
 * statements never wait behind (or run inside) the engine's session.
 * @template T
 * @param {string} url
 * @param {(client: pg.Client) => Promise<T>} fn
 * @returns {Promise<T>}
 */
export async function withClient (url, fn) {
  const client = new pg.Client({ connectionString: parseUrl(url).parsed.toString() })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

/**
 * Identifies a database across host aliases (localhost, 127.0.0.1, a socket).
 * @param {pg.Client} client
 */
async function databaseIdentity (client) {
  const { rows } = await client.query(
    "SELECT current_database() || '@' || current_setting('port') || '/' || pg_postmaster_start_time() AS id")
  return String(rows[0]?.id)
}

/**
 * A shadow database of our own next to the main one, dropped on dispose.
 * The stock connectToShadowDb spreads `database` over a config whose
 * connectionString wins, so it would migrate the main database instead.
 * @param {string} mainUrl
 */
async function temporaryShadowDatabase (mainUrl) {
  const name = `prisma_migrate_shadow_db_${randomUUID()}`
  await withClient(mainUrl, (client) => client.query(`CREATE DATABASE ${quoteIdent(name)}`))
  const dropDatabase = () => withClient(mainUrl, async (client) => {
    const drop = `DROP DATABASE IF EXISTS ${quoteIdent(name)}`
    // WITH (FORCE) needs PostgreSQL 13; older servers answer with a syntax error.
    await client.query(`${drop} WITH (FORCE)`).catch((error) => {
      if (error?.code !== '42601') throw error
      return client.query(drop)
    })
  })
  const url = new URL(mainUrl)
  url.pathname = `/${encodeURIComponent(name)}`
  try {
    const adapter = await connect(url.toString(), dropDatabase)
    const { rows } = await adapter.underlyingDriver().query('SELECT current_database() AS name')
    if (rows[0]?.name !== name) {
      await adapter.dispose()
      throw new Error(`Shadow database connection landed on "${rows[0]?.name}" instead of "${name}"`)
    }
    return adapter
  } catch (error) {
    await dropDatabase().catch(() => {})
    throw error
  }
}

/**
 * The configured shadow database, emptied first as the native engine does
 * (the wasm engine expects a blank one). Refuses to touch the main database.
 * @param {string} mainUrl
 * @param {string} shadowUrl
 */
async function configuredShadowDatabase (mainUrl, shadowUrl) {
  const [main, shadow] = await Promise.all([mainUrl, shadowUrl].map((url) => withClient(url, databaseIdentity)))
  if (main === shadow) {
    throw new Error('The shadow database you configured appears to be the same as the main database. Please specify another shadow database.')
  }
  const schema = quoteIdent(parseUrl(shadowUrl).schema ?? 'public')
  await withClient(shadowUrl, (client) => client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE; CREATE SCHEMA ${schema}`))
  return connect(shadowUrl)
}

/**
 * The migration-aware adapter factory handed to `SchemaEngine.new`, and a
 * `close` that disposes whatever the engine has left open (it never
 * disposes its main connection itself).
 * @param {Datasource} datasource
 */
export function createAdapterFactory ({ url, shadowDatabaseUrl }) {
  /** @type {Set<PgAdapter>} */
  const open = new Set()
  /** @param {Promise<PgAdapter>} connecting */
  const track = async (connecting) => {
    const adapter = await connecting
    const dispose = adapter.dispose.bind(adapter)
    adapter.dispose = () => {
      open.delete(adapter)
      return dispose()
    }
    open.add(adapter)
    return adapter
  }

  const base = new PrismaPg(url)
  /** @type {import('@prisma/driver-adapter-utils').SqlMigrationAwareDriverAdapterFactory} */
  const factory = {
    provider: base.provider,
    adapterName: base.adapterName,
    connect: () => track(connect(url)),
    connectToShadowDb: () => track(shadowDatabaseUrl
      ? configuredShadowDatabase(url, shadowDatabaseUrl)
      : temporaryShadowDatabase(url)),
  }
  return {
    factory: bindMigrationAwareSqlAdapterFactory(factory),
    close: () => Promise.allSettled([...open].map((adapter) => adapter.dispose())),
  }
}
