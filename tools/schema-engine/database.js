// @ts-check
// The database-level commands the CLI runs as one-shot `cli` invocations
// (`migrate dev`/`deploy` check the database exists and create it if not).
// The wasm engine has no equivalent, so they are plain pg calls, with the
// native engine's error codes so the CLI reacts the same way.
import { withClient } from './adapter.js'

/** A failure with a Prisma error code (P1xxx) the CLI knows how to handle. */
export class KnownError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   */
  constructor (code, message) {
    super(message)
    this.code = code
  }
}

/** @param {string} url */
function describe (url) {
  const { hostname, port, pathname, username } = new URL(url)
  const user = decodeURIComponent(username)
  return {
    host: hostname || 'localhost',
    port: port || '5432',
    database: decodeURIComponent(pathname.slice(1)) || user,
    user,
  }
}

/**
 * @param {unknown} error
 * @param {string} url
 * @returns {unknown} a KnownError when the native engine would have coded it
 */
export function asKnownError (error, url) {
  const { host, port, database, user } = describe(url)
  switch (/** @type {{ code?: unknown }} */ (error)?.code) {
    case '28P01':
    case '28000':
      return new KnownError('P1000', `Authentication failed against database server at \`${host}\`, the provided database credentials for \`${user}\` are not valid.\n\nPlease make sure to provide valid database credentials for the database server at \`${host}\`.`)
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EHOSTUNREACH':
    case 'ETIMEDOUT':
      return new KnownError('P1001', `Can't reach database server at \`${host}:${port}\`\n\nPlease make sure your database server is running at \`${host}:${port}\`.`)
    case '3D000':
      return new KnownError('P1003', `Database \`${database}\` does not exist on the database server at \`${host}:${port}\`.`)
    case '42P04':
      return new KnownError('P1009', `Database \`${database}\` already exists on the database server at \`${host}:${port}\``)
    case '42501':
      return new KnownError('P1010', `User \`${user}\` was denied access on the database \`${database}\``)
    default:
      return error
  }
}

/** @param {string} url */
export async function canConnectToDatabase (url) {
  try {
    await withClient(url, (client) => client.query('SELECT 1'))
  } catch (error) {
    throw asKnownError(error, url)
  }
}

/**
 * Creates the URL's database from a maintenance database on the same
 * server, as the native engine does.
 * @param {string} url
 * @returns {Promise<string>} the database name
 */
export async function createDatabase (url) {
  const { database } = describe(url)
  const statement = `CREATE DATABASE "${database.replaceAll('"', '""')}"`
  /** @param {string} maintenance */
  const createFrom = (maintenance) => {
    const other = new URL(url)
    other.pathname = `/${maintenance}`
    return withClient(other.toString(), (client) => client.query(statement))
  }
  try {
    await createFrom('postgres').catch((error) => {
      if (error?.code !== '3D000') throw error
      return createFrom('template1')
    })
  } catch (error) {
    throw asKnownError(error, url)
  }
  return database
}
