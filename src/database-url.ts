/**
 * PostgreSQL connection URLs as libpq reads them, multi-host ones included, checked where the
 * configuration is: node-postgres takes one host only, and `new URL()` refuses a host list.
 *
 * libpq, "Connection Strings" and "Specifying Multiple Hosts" (PostgreSQL 15 docs, 34.1.1):
 * `postgresql://[userspec@][hostspec][/dbname][?paramspec]`, where hostspec may be a comma list
 * of `host[:port]`, each with its own port (a host without one gets 5432); the hosts are tried
 * in the order given until one accepts a connection that `target_session_attrs` allows.
 * `connect_timeout` (seconds) applies to each host separately.
 */

/** libpq's `target_session_attrs` values (PostgreSQL 14+). */
export const SESSION_ATTRS = ['any', 'read-write', 'read-only', 'primary', 'standby', 'prefer-standby'] as const
export type TargetSessionAttrs = typeof SESSION_ATTRS[number]

export interface HostPort {
  host: string
  port: number
}

export interface DatabaseUrl {
  /** Empty when the URL names none (pg's default then: localhost, or a `host` parameter). */
  hosts: HostPort[]
  targetSessionAttrs: TargetSessionAttrs
  /** `connect_timeout` in ms, per host; undefined when the URL has none. */
  connectTimeoutMs?: number
  /** The same URL naming one of its hosts, without the parameters node-postgres does not read. */
  hostUrl: (host: HostPort) => string
}

export class DatabaseUrlError extends Error {
  override name = 'DatabaseUrlError'
}

const DEFAULT_PORT = 5432
// scheme :// [userinfo @] hostlist [/ path] [? query] — userinfo cannot hold a raw '@' or '/'.
const SHAPE = /^(postgres(?:ql)?):\/\/(?:([^@/?#]*)@)?([^/?#]*)(\/[^?#]*)?(?:\?([^#]*))?$/
// Parameters read here and taken out of the per-host URL.
const OURS = new Set(['target_session_attrs', 'connect_timeout'])

/** `host`, `host:port`, `[v6]` or `[v6]:port`. */
function parseHost (text: string): HostPort {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]]*)(?::(\d*))?$/.exec(text)
  if (!match || !match[1]) throw new DatabaseUrlError(`"${text}" is not host or host:port`)
  const port = match[2] ? Number(match[2]) : DEFAULT_PORT
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new DatabaseUrlError(`port ${match[2]} of ${match[1]} is not 1-65535`)
  // The brackets belong to the URL, not to the address pg connects to.
  return { host: decodeURIComponent(match[1]).replace(/^\[(.*)\]$/, '$1'), port }
}

/** Throws a DatabaseUrlError that says what is wrong, without the URL (it may carry a password). */
export function parseDatabaseUrl (url: string): DatabaseUrl {
  if (!/^postgres(ql)?:\/\//.test(url.trim())) throw new DatabaseUrlError('is not a postgresql:// URL')
  const match = SHAPE.exec(url.trim())
  if (!match) throw new DatabaseUrlError('is not a postgresql://[user[:password]@]host[:port][,host[:port]…][/database][?parameters] URL')
  const [, scheme, userinfo, hostlist = '', path = '', query = ''] = match
  // No host (`postgresql:///db`, or `?host=/socket/dir`): libpq's default, which pg reads itself.
  const hosts = hostlist === '' ? [] : hostlist.split(',').map(parseHost)
  const params = new URLSearchParams(query)

  const attrs = params.get('target_session_attrs') ?? 'any'
  if (!(SESSION_ATTRS as readonly string[]).includes(attrs)) {
    throw new DatabaseUrlError(`has target_session_attrs=${attrs}; libpq's values are ${SESSION_ATTRS.join(', ')}`)
  }
  const timeout = params.get('connect_timeout')
  let connectTimeoutMs: number | undefined
  if (timeout !== null) {
    const seconds = Number(timeout)
    if (!/^\d+$/.test(timeout) || !Number.isSafeInteger(seconds)) throw new DatabaseUrlError(`has connect_timeout=${timeout}; it is whole seconds`)
    // libpq: zero, negative or unset waits forever; below 2 s counts as 2 s.
    if (seconds > 0) connectTimeoutMs = Math.max(2, seconds) * 1000
  }
  // libpq 16's load_balance_hosts=random shuffles the hosts; we keep libpq 15's order.
  const balance = params.get('load_balance_hosts')
  if (balance !== null && balance !== 'disable') throw new DatabaseUrlError(`has load_balance_hosts=${balance}, which this service does not support: hosts are tried in the order given`)

  const rest = new URLSearchParams([...params].filter(([name]) => !OURS.has(name))).toString()
  const suffix = `${path}${rest ? `?${rest}` : ''}`
  const user = userinfo !== undefined ? `${userinfo}@` : ''
  return {
    hosts,
    targetSessionAttrs: attrs as TargetSessionAttrs,
    ...(connectTimeoutMs !== undefined ? { connectTimeoutMs } : {}),
    hostUrl: ({ host, port }) => `${scheme}://${user}${host.includes(':') ? `[${host}]` : host}:${port}${suffix}`,
  }
}

/** `host:port[,host:port…]` of a URL, for logs, labels and /readyz: never the credentials. */
export function serverNames (url: string): string {
  const { hosts } = parseDatabaseUrl(url)
  return hosts.length === 0 ? 'localhost:5432' : hosts.map(({ host, port }) => `${host}:${port}`).join(',')
}

/**
 * Splits DATABASE_REPLICA_URLS: a comma separates the URLs only where the next one starts
 * (`scheme://`), since a multi-host URL has commas of its own.
 */
export function splitUrlList (text: string): string[] {
  return text.split(/,(?=\s*[A-Za-z][A-Za-z0-9+.-]*:\/\/)/).map((entry) => entry.trim()).filter(Boolean)
}
