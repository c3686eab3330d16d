// @ts-check
/**
 * The floor: what a hand-written route costs. The same JSON-RPC route as the service
 * (baseline-rpc.js), doing the same SQL in the same `BEGIN … COMMIT` per call through `pg`
 * directly, on a pool of the same size and connection timeout as the service's defaults,
 * with the same answers and error codes. Params get the light checks a hand-written handler
 * would make (types and lengths), not a schema library. Queries are unnamed, as pg sends
 * them by default (and as Prisma's pg adapter does unless told otherwise).
 *
 * Env: DATABASE_URL, PORT (0 = any), HOST, and the service's settings it copies
 * (baseline-settings.js). Started by the benchmark (targets.js).
 */
import pg from 'pg'
import { buildBaselineApp, MethodError, serveBaseline } from './baseline-rpc.js'
import { fromBaselineEnv } from './baseline-settings.js'

const COLUMNS = 'id, login, first_name, last_name, created_at, updated_at'
const MAX_INT4 = 2_147_483_647
const MAX_TEXT = 30

const settings = fromBaselineEnv(process.env)
const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL,
  max: settings.poolSize,
  connectionTimeoutMillis: settings.connectTimeoutMs,
  idleTimeoutMillis: 30_000,
  application_name: 'user-rpc-bench-floor',
})
// An idle client that loses its server emits 'error' on the pool; unhandled, it would crash.
pool.on('error', () => {})

/**
 * @typedef {object} UserRow
 * @property {number} id
 * @property {string} login
 * @property {string | null} first_name
 * @property {string | null} last_name
 * @property {Date} created_at
 * @property {Date} updated_at
 */

/** @param {UserRow} row */
const toUser = (row) => ({
  id: row.id,
  login: row.login,
  firstName: row.first_name,
  lastName: row.last_name,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
})

/** @param {string} message @param {Array<string | number>} path */
const invalidParams = (message, path) => new MethodError(-32602, 'Invalid params', { issues: [{ path, message }] })

/**
 * Named params as an object, or positional ones mapped onto `names` in order; unknown names
 * are refused, as the service does.
 * @param {unknown} params @param {string[]} names @returns {Record<string, unknown>}
 */
function named (params, names) {
  if (params === undefined) return {}
  if (Array.isArray(params)) {
    if (params.length > names.length) throw invalidParams(`at most ${names.length} params`, [])
    return Object.fromEntries(params.map((value, index) => [names[index], value]))
  }
  const object = /** @type {Record<string, unknown>} */ (params)
  for (const key of Object.keys(object)) {
    if (!names.includes(key)) throw invalidParams(`unknown param ${key}`, [key])
  }
  return object
}

/** @param {unknown} value @param {string} name */
function userId (value, name) {
  if (!Number.isInteger(value) || /** @type {number} */ (value) < 1 || /** @type {number} */ (value) > MAX_INT4) {
    throw invalidParams(`${name} must be an integer from 1 to ${MAX_INT4}`, [name])
  }
  return /** @type {number} */ (value)
}

/** @param {unknown} value @param {string} name @returns {string | null} */
function optionalName (value, name) {
  if (value === undefined || value === null) return null
  if (typeof value !== 'string' || [...value].length > MAX_TEXT) throw invalidParams(`${name} must be a string of at most ${MAX_TEXT} characters, or null`, [name])
  return value
}

/**
 * One call's transaction: BEGIN, the work, COMMIT; ROLLBACK when the work throws. A client
 * whose ROLLBACK failed is discarded rather than returned to the pool.
 * @template T
 * @param {(client: pg.PoolClient) => Promise<T>} work
 * @returns {Promise<T>}
 */
async function inTransaction (work) {
  let client
  try {
    client = await pool.connect()
  } catch {
    throw new MethodError(-32011, 'Database unavailable', { retryable: true })
  }
  let broken = false
  try {
    await client.query('BEGIN')
    const result = await work(client)
    await client.query('COMMIT')
    return result
  } catch (error) {
    await client.query('ROLLBACK').catch(() => { broken = true })
    throw error
  } finally {
    client.release(broken)
  }
}

const app = buildBaselineApp({
  ...settings,
  methods: {
    'user.create': async (params) => {
      const { login, firstName, lastName } = named(params, ['login', 'firstName', 'lastName'])
      if (typeof login !== 'string' || [...login].length > MAX_TEXT || !/\S/.test(login)) {
        throw invalidParams(`login must be 1-${MAX_TEXT} characters, not blank`, ['login'])
      }
      const first = optionalName(firstName, 'firstName')
      const last = optionalName(lastName, 'lastName')
      return await inTransaction(async (client) => {
        try {
          const { rows } = await client.query(
            `INSERT INTO users (login, first_name, last_name, updated_at) VALUES ($1, $2, $3, $4) RETURNING ${COLUMNS}`,
            [login, first, last, new Date()]
          )
          return toUser(rows[0])
        } catch (error) {
          // unique_violation: login is the only unique column besides the generated id.
          if (/** @type {{ code?: string }} */ (error).code === '23505') throw new MethodError(-32009, 'Login already taken', { login })
          throw error
        }
      })
    },

    'user.get': async (params) => {
      const id = userId(named(params, ['id']).id, 'id')
      return await inTransaction(async (client) => {
        const { rows } = await client.query(`SELECT ${COLUMNS} FROM users WHERE id = $1`, [id])
        if (rows.length === 0) throw new MethodError(-32004, 'User not found', { id })
        return toUser(rows[0])
      })
    },

    'user.list': async (params) => {
      const { limit = 20, cursor } = named(params, ['limit', 'cursor'])
      if (!Number.isInteger(limit) || /** @type {number} */ (limit) < 1 || /** @type {number} */ (limit) > 100) {
        throw invalidParams('limit must be an integer from 1 to 100', ['limit'])
      }
      const pageSize = /** @type {number} */ (limit)
      // The cursor is opaque to clients; here it is simply the last id of the previous page.
      if (cursor !== undefined && (typeof cursor !== 'string' || !/^\d{1,10}$/.test(cursor))) {
        throw invalidParams('cursor is not one this service issued', ['cursor'])
      }
      const afterId = cursor === undefined ? 0 : Number(cursor)
      return await inTransaction(async (client) => {
        // One row past the page tells whether there is a next page, without a count.
        const { rows } = await client.query(`SELECT ${COLUMNS} FROM users WHERE id > $1 ORDER BY id LIMIT $2`, [afterId, pageSize + 1])
        const page = rows.slice(0, pageSize)
        return {
          items: page.map(toUser),
          nextCursor: rows.length > pageSize ? String(page[page.length - 1].id) : null,
        }
      })
    },

    get_user: async (params) => {
      const id = userId(named(params, ['user_id']).user_id, 'user_id')
      return await inTransaction(async (client) => {
        const { rows } = await client.query(`SELECT ${COLUMNS} FROM users WHERE id = $1`, [id])
        if (rows.length === 0) throw new MethodError(-32004, 'No such user', { id })
        const row = rows[0]
        return { user_id: row.id, login: row.login, first_name: row.first_name, last_name: row.last_name }
      })
    },
  },
})

await serveBaseline(app, () => pool.end())
