import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'

/**
 * What became of one create, as its client saw it: `ok` (answered with the user), the error
 * code it was answered with, `refused` (no connection: the request never reached a server),
 * `lost` (sent, then the connection ended with no answer: it may or may not have run), or
 * `hung` (no answer within the call's time limit).
 */
export type Outcome = 'ok' | number | 'refused' | 'lost' | 'hung'

export interface CreateRecord {
  login: string
  outcome: Outcome
  /** performance.now() when sent and when settled. */
  sentAt: number
  settledAt: number
}

export interface WriteLoad {
  records: CreateRecord[]
  /** Resolves once `count` creates sent after `since` are acknowledged. */
  acknowledged: (count: number, since?: number, timeoutMs?: number) => Promise<void>
  /** Stops the loops and waits for the calls in flight. */
  stop: () => Promise<void>
}

export interface WriteLoadOptions {
  port: number
  /** Unique to the test: every login starts with it. */
  prefix: string
  clients?: number
  /** Clients (of `clients`) that send batches of five creates instead of one. */
  batchClients?: number
  callTimeoutMs?: number
}

const BATCH = 5

/**
 * Closed-loop clients creating users with unique logins as fast as the service answers, over
 * keep-alive connections (undici never retries a POST, so a create is sent exactly once),
 * recording every outcome. After a failure a client waits 20 ms, so an outage does not turn
 * into a busy loop.
 */
export function startWriteLoad (options: WriteLoadOptions): WriteLoad {
  const { port, prefix, clients = 4, batchClients = 0, callTimeoutMs = 30_000 } = options
  const url = `http://127.0.0.1:${port}/rpc`
  const records: CreateRecord[] = []
  let stopping = false

  async function send (logins: string[], batch: boolean) {
    const calls = logins.map((login, index) => ({ jsonrpc: '2.0', method: 'user.create', params: { login }, id: index }))
    const sentAt = performance.now()
    let outcomes: Outcome[]
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(batch ? calls : calls[0]),
        signal: AbortSignal.timeout(callTimeoutMs),
      })
      const text = await response.text()
      if (response.status !== 200) throw Object.assign(new Error(`HTTP ${response.status}`), { status: response.status })
      const body = JSON.parse(text) as unknown
      const answers = (Array.isArray(body) ? body : [body]) as Array<{ id: number, result?: { login: string }, error?: { code: number } }>
      outcomes = logins.map((login, index) => {
        const answer = answers.find((one) => one.id === index)
        if (!answer) return -1
        if (answer.result) return answer.result.login === login ? 'ok' : -1
        return answer.error?.code ?? -1
      })
    } catch (error) {
      const failure = error as { name?: string, status?: number, cause?: { code?: string } }
      const outcome: Outcome = failure.status ?? (failure.name === 'TimeoutError' ? 'hung' : failure.cause?.code === 'ECONNREFUSED' ? 'refused' : 'lost')
      outcomes = logins.map(() => outcome)
    }
    const settledAt = performance.now()
    logins.forEach((login, index) => records.push({ login, outcome: outcomes[index] as Outcome, sentAt, settledAt }))
    return outcomes.every((outcome) => outcome === 'ok')
  }

  const loops = Array.from({ length: clients }, async (_, client) => {
    const batch = client < batchClients
    for (let serial = 0; ; serial++) {
      if (stopping) return
      const logins = Array.from({ length: batch ? BATCH : 1 }, (_, member) => `${prefix}-${client}-${serial}-${member}`)
      if (!await send(logins, batch)) await sleep(20)
    }
  })

  return {
    records,
    acknowledged: async (count, since = 0, timeoutMs = 60_000) => {
      const deadline = performance.now() + timeoutMs
      while (records.filter((record) => record.outcome === 'ok' && record.sentAt >= since).length < count) {
        if (performance.now() > deadline) throw new Error(`fewer than ${count} creates acknowledged within ${timeoutMs} ms; outcomes: ${JSON.stringify(tally(records))}`)
        await sleep(25)
      }
    },
    stop: async () => {
      stopping = true
      await Promise.all(loops)
    },
  }
}

/** How many calls had each outcome. */
export function tally (records: CreateRecord[]): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const { outcome } of records) counts[String(outcome)] = (counts[String(outcome)] ?? 0) + 1
  return counts
}

/** Logins with this prefix in the users table, read over a connection of its own. */
export async function storedLogins (url: string, prefix: string): Promise<Set<string>> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const { rows } = await client.query<{ login: string }>("SELECT login FROM users WHERE starts_with(login, $1 || '-')", [prefix])
    return new Set(rows.map((row) => row.login))
  } finally {
    await client.end()
  }
}

/** Logins whose creates had one of the given outcomes. */
export const loginsWith = (records: CreateRecord[], ...outcomes: Outcome[]) =>
  new Set(records.filter((record) => outcomes.includes(record.outcome)).map((record) => record.login))
