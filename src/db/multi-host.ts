import type { EventEmitter } from 'node:events'
import pg from 'pg'
import { parseDatabaseUrl, type DatabaseUrl, type HostPort, type TargetSessionAttrs } from '../database-url.js'
import { NO_SUITABLE_HOST, READ_ONLY_SQLSTATE } from './database-errors.js'

/**
 * libpq's multi-host URLs for node-postgres, which connects to one host only (brianc/node-postgres
 * #1470; no maintained package adds it): the pool's connections go to the first host, in the
 * URL's order, whose session `target_session_attrs` accepts, so the pool follows a failover by
 * itself: once the old primary is gone or read-only, new connections find the one that writes.
 *
 * libpq's rules (PostgreSQL 15 docs, 34.1.2, target_session_attrs), and how they are read here:
 * - any: the first host that connects;
 * - read-write: not in hot standby, and default_transaction_read_only off (read-only: the converse);
 * - primary: not in hot standby; standby: in hot standby;
 * - prefer-standby: a standby if any host is one, else the first host that connects.
 * Like libpq, the server's own report is used when it sends one (PostgreSQL 14+ reports
 * `in_hot_standby` and `default_transaction_read_only` at start-up: no round trip); an older
 * server is asked (`pg_is_in_recovery()`, `transaction_read_only`).
 *
 * Unlike libpq, each connection does not walk the list from the top: the host that last
 * qualified is remembered (as pgjdbc's hostRecheckSeconds does) and a pool connection goes
 * straight to it; the list is walked again, in order, once that host refuses, drops, or no
 * longer qualifies. That keeps a pool's connections at one connection each.
 */

interface SessionState {
  hotStandby: boolean
  readOnly: boolean
}

/** What a server reported of itself at start-up (ParameterStatus), when it did. */
interface Reported {
  in_hot_standby?: string
  default_transaction_read_only?: string
}

const accepts = (attrs: TargetSessionAttrs, { hotStandby, readOnly }: SessionState): boolean => {
  switch (attrs) {
    case 'any': return true
    case 'read-write': return !hotStandby && !readOnly
    case 'read-only': return hotStandby || readOnly
    case 'primary': return !hotStandby
    case 'standby':
    case 'prefer-standby': return hotStandby
  }
}

const describeState = ({ hotStandby, readOnly }: SessionState) =>
  hotStandby ? 'in hot standby' : readOnly ? 'read-only (default_transaction_read_only)' : 'a primary'

const nameOf = ({ host, port }: HostPort) => `${host}:${port}`

/** Listens for the server's ParameterStatus messages on a client's connection. */
function recordReports (client: pg.Client): Reported {
  const reported: Reported = {}
  const connection = (client as unknown as { connection: EventEmitter }).connection
  connection.on('parameterStatus', ({ parameterName, parameterValue }: { parameterName: string, parameterValue: string }) => {
    if (parameterName === 'in_hot_standby' || parameterName === 'default_transaction_read_only') reported[parameterName] = parameterValue
  })
  return reported
}

async function sessionState (client: pg.Client, reported: Reported): Promise<SessionState> {
  if (reported.in_hot_standby !== undefined && reported.default_transaction_read_only !== undefined) {
    return { hotStandby: reported.in_hot_standby === 'on', readOnly: reported.default_transaction_read_only === 'on' }
  }
  const { rows } = await client.query<{ standby: boolean, read_only: string }>(
    'SELECT pg_catalog.pg_is_in_recovery() AS standby, pg_catalog.current_setting(\'transaction_read_only\') AS read_only')
  return { hotStandby: rows[0]?.standby === true, readOnly: rows[0]?.read_only === 'on' }
}

class NoSuitableHostError extends Error {
  override name = 'NoSuitableHostError'
  code = NO_SUITABLE_HOST
  constructor (attrs: TargetSessionAttrs, tried: string[]) {
    super(`no host accepts a ${attrs} session (target_session_attrs): ${tried.join('; ')}`)
  }
}

/** Which host a URL's new connections go to, shared by one pool's connections. */
export class HostSelector {
  #known: HostPort | undefined
  #scan: Promise<HostPort> | undefined

  constructor (readonly url: DatabaseUrl, readonly connectTimeoutMs: number) {}

  get attrs (): TargetSessionAttrs { return this.url.targetSessionAttrs }

  /** The host that last qualified, or the first that qualifies now (one walk at a time). */
  locate (): Promise<HostPort> {
    if (this.#known) return Promise.resolve(this.#known)
    this.#scan ??= this.#walk().finally(() => { this.#scan = undefined })
    return this.#scan
  }

  /** That host refused, dropped, or stopped qualifying: the next connection walks the list. */
  forget (host: HostPort | undefined) {
    if (host && this.#known === host) this.#known = undefined
  }

  async #walk (): Promise<HostPort> {
    const tried: string[] = []
    const reachable: HostPort[] = []
    for (const host of this.url.hosts) {
      try {
        const state = await this.#probe(host)
        reachable.push(host)
        if (accepts(this.attrs, state)) return (this.#known = host)
        tried.push(`${nameOf(host)} is ${describeState(state)}`)
      } catch (error) {
        const { code, message } = error as { code?: string, message?: string }
        tried.push(`${nameOf(host)}: ${code ?? message}`)
      }
    }
    // prefer-standby: no standby answered, so "try again in any mode" (libpq).
    if (this.attrs === 'prefer-standby' && reachable[0]) return (this.#known = reachable[0])
    throw new NoSuitableHostError(this.attrs, tried)
  }

  async #probe (host: HostPort): Promise<SessionState> {
    const client = new pg.Client({ connectionString: this.url.hostUrl(host), connectionTimeoutMillis: this.connectTimeoutMs, application_name: 'user-rpc' })
    const reported = recordReports(client)
    // A probe that fails after connecting must not crash the process with an unhandled 'error'.
    client.on('error', () => {})
    await client.connect()
    try {
      return await sessionState(client, reported)
    } finally {
      await client.end().catch(() => {})
    }
  }
}

type ConnectCallback = ((error: Error) => void) | ((error: null, client: pg.Client) => void)

/**
 * A pg Client class (pg.Pool's `Client` option) whose connections go where `selector` says,
 * and are checked there: a connection whose session does not qualify is closed and fails,
 * and its host is forgotten, so the pool's next connection walks the list again.
 */
function clientFor (selector: HostSelector): typeof pg.Client {
  return class FollowingClient extends pg.Client {
    #target: HostPort | undefined
    readonly #reported: Reported

    constructor (config?: string | pg.ClientConfig) {
      super(typeof config === 'object' ? { ...config, connectionTimeoutMillis: selector.connectTimeoutMs } : config)
      this.#reported = recordReports(this)
      // A server that became a standby under this connection (a demoted primary left running)
      // refuses the write with 25006: the call fails (-32011, retryable) and the connection is
      // not returned to the pool; the next one walks the list. Only on error, never per query.
      const connection = (this as unknown as { connection: EventEmitter }).connection
      connection.on('errorMessage', ({ code }: { code?: string }) => {
        if (code !== READ_ONLY_SQLSTATE) return
        selector.forget(this.#target)
        setImmediate(() => { this.end().catch(() => {}) })
      })
    }

    // pg.Pool calls connect(callback); other callers use the promise.
    override connect (): Promise<pg.Client>
    override connect (callback: ConnectCallback): void
    override connect (callback?: ConnectCallback): Promise<pg.Client> | undefined {
      const connected = this.#connect().then(() => this)
      if (!callback) return connected
      connected.then((client) => (callback as (error: null, client: pg.Client) => void)(null, client), (error: Error) => (callback as (error: Error) => void)(error))
      return undefined
    }

    async #connect (): Promise<void> {
      const target = await selector.locate()
      this.#target = target
      this.host = target.host
      this.port = target.port
      try {
        await super.connect()
      } catch (error) {
        selector.forget(target)
        throw error
      }
      const state = await sessionState(this, this.#reported)
      if (!accepts(selector.attrs, state)) {
        selector.forget(target)
        await this.end().catch(() => {})
        throw new NoSuitableHostError(selector.attrs, [`${nameOf(target)} is ${describeState(state)}`])
      }
    }
  }
}

/**
 * What pg.Pool needs for a URL: a plain connection string for one host with no session rule
 * (nothing changes then), else the first host's URL and a Client class that follows the rule.
 */
export function poolTarget (url: string, connectTimeoutMs: number): { connectionString: string, Client?: typeof pg.Client } {
  const parsed = parseDatabaseUrl(url)
  const [first] = parsed.hosts
  if (!first || (parsed.hosts.length === 1 && parsed.targetSessionAttrs === 'any')) return { connectionString: url }
  // From here on pg gets one host's URL: its own parser would take the host list for one name.
  const selector = new HostSelector(parsed, parsed.connectTimeoutMs ?? connectTimeoutMs)
  return { connectionString: parsed.hostUrl(first), Client: clientFor(selector) }
}

/**
 * The one-host URL of the host a multi-host URL leads to now, for tools that take one host
 * only (the Prisma CLI and its schema engine run migrations on it); a one-host URL as it is.
 */
export async function currentHostUrl (url: string, connectTimeoutMs: number): Promise<string> {
  const parsed = parseDatabaseUrl(url)
  if (parsed.hosts.length <= 1) return url
  const host = await new HostSelector(parsed, parsed.connectTimeoutMs ?? connectTimeoutMs).locate()
  return parsed.hostUrl(host)
}
