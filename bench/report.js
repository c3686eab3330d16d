// @ts-check
/**
 * The printed report, in markdown: a header that says where and how the numbers were made,
 * one table per workload (a row per concurrency, the sides side by side, the ratios of the
 * first side to the others), and the issue's goals with their verdicts.
 */

/**
 * @typedef {object} Meta
 * @property {string} date
 * @property {{ cpus: number, model: string, memoryGiB: number, kernel: string }} machine
 * @property {string} node
 * @property {{ version: string, kind: 'embedded' | 'external' | 'debian' }} postgres
 * @property {number} poolSize
 * @property {number} batchConcurrency
 * @property {number} seconds
 * @property {number} warmupSeconds
 * @property {number} rounds
 * @property {number} seedUsers
 * @property {Array<{ name: string, description: string, alternates: boolean }>} targets
 */

const percent = (/** @type {number} */ share) => `${Math.round(share * 100)}%`
const whole = (/** @type {number} */ value) => Number.isFinite(value) ? String(Math.round(value)) : '–'
const ratio = (/** @type {number} */ value) => Number.isFinite(value) ? value.toFixed(2) : '–'
/** Milliseconds with about three significant digits. */
const ms = (/** @type {number} */ value) => !Number.isFinite(value) ? '–' : value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : String(Math.round(value))

const DATABASE_KINDS = {
  embedded: 'embedded, started by the benchmark',
  external: 'external, BENCH_DATABASE_URL, a fresh database',
  debian: 'Debian\'s, started by the benchmark with a streaming replica beside it (BENCH_REPLICA=1)',
}

/** @param {Meta} meta @returns {string} */
export function formatHeader (meta) {
  const compared = meta.targets.filter((target) => target.alternates).map((target) => target.name)
  const once = meta.targets.filter((target) => !target.alternates).map((target) => target.name)
  const order = [...Array.from({ length: meta.rounds }, () => compared).flat(), ...once].join(', ')
  return [
    `# user-rpc benchmark, ${meta.date}`,
    '',
    `- Machine: ${meta.machine.cpus} × ${meta.machine.model}, ${meta.machine.memoryGiB.toFixed(1)} GiB memory, Linux ${meta.machine.kernel}; the servers, PostgreSQL and the load generator share it.`,
    `- Node ${meta.node}; PostgreSQL ${meta.postgres.version} (${DATABASE_KINDS[meta.postgres.kind]}), ${meta.seedUsers} seeded users.`,
    `- Pool: ${meta.poolSize} connections for each side with a database; a batch runs ${meta.batchConcurrency} members at once on both.`,
    `- Each run: ${meta.warmupSeconds} s warm-up (longer until every connection has had an answer), then ${meta.seconds} s measured, from an answer to the first answer after ${meta.seconds} s (slow batches come back in waves; a window cut on answers holds whole ones). Order in a cell: ${order}. Calls/s are the mean of the rounds (each round in brackets); latencies are over every round's samples together.`,
    '- Load generator: its own process per run, raw keep-alive sockets, one request in flight per connection. Every answer is checked; calls/s and latencies count right answers only, and a side with any wrong answer (or none in its window) is INVALID. CPU shares are of one core.',
    ...meta.targets.map((target) => `- **${target.name}**: ${target.description}.`),
  ].join('\n')
}

/**
 * @param {import('./workloads.js').Workload} workload
 * @param {import('./cell.js').Cell[]} cells   this workload's, by concurrency
 * @param {Array<{ name: string, alternates: boolean }>} targets
 * @returns {string}
 */
export function formatWorkloadTable (workload, cells, targets) {
  const names = targets.map((target) => target.name)
  const [subject, ...others] = names
  const compared = targets.filter((target) => target.alternates && target.name !== subject).map((target) => target.name)
  const batch = workload.callsPerRequest > 1
  const trio = names.join(' / ')

  const header = [
    'clients',
    ...names.map((name) => `${name} calls/s`),
    ...others.map((name) => `${subject}/${name} calls/s`),
    ...(batch ? ['requests/s'] : []),
    'p50 ms', 'p99 ms',
    ...compared.map((name) => `${subject}/${name} p99`),
    'p99.9 ms', 'errors', 'peak RSS MiB', 'server CPU', 'load gen CPU',
  ]
  const rows = cells.map((cell) => {
    /** @param {string} name */
    const side = (name) => cell.sides.find((one) => one.target === name)
    /** @param {(side: import('./cell.js').SideSummary) => string} pick */
    const each = (pick) => names.map((name) => { const found = side(name); return found ? pick(found) : '–' }).join(' / ')
    /** @param {string} name @param {(side: import('./cell.js').SideSummary) => number} pick */
    const against = (name, pick) => {
      const mine = side(subject ?? '')
      const theirs = side(name)
      return mine && theirs ? ratio(pick(mine) / pick(theirs)) : '–'
    }
    return [
      String(cell.concurrency),
      ...names.map((name) => {
        const found = side(name)
        if (!found) return '–'
        const rounds = found.callsPerSecondRounds.length > 1 ? ` (${found.callsPerSecondRounds.map(whole).join(', ')})` : ''
        return whole(found.callsPerSecond) + rounds + (found.problems.length > 0 ? ' INVALID' : '')
      }),
      ...others.map((name) => against(name, (one) => one.callsPerSecond)),
      ...(batch ? [each((one) => whole(one.requestsPerSecond))] : []),
      each((one) => ms(one.latencyMs.p50)),
      each((one) => ms(one.latencyMs.p99)),
      ...compared.map((name) => against(name, (one) => one.latencyMs.p99)),
      each((one) => ms(one.latencyMs.p999)),
      each((one) => one.errors > 0 ? `**${one.errors}**` : '0'),
      each((one) => whole(one.peakRssMiB)),
      each((one) => percent(one.serverCpuShare)),
      each((one) => percent(one.clientCpuShare)),
    ]
  })
  const invalid = cells.flatMap((cell) => cell.sides.filter((one) => one.problems.length > 0).map((one) =>
    `- INVALID: ${one.target} at ${cell.concurrency} clients: ${one.problems.join(' | ')}`))
  return [
    `## ${workload.name}: ${workload.description}`,
    '',
    `Columns with several values are ${trio}.${batch ? ` Calls/s count every member (${workload.callsPerRequest} per request); latencies are per request.` : ''}`,
    '',
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---:').join('|')}|`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
    ...(invalid.length > 0 ? ['', ...invalid] : []),
  ].join('\n')
}

/**
 * @param {Array<{ label: string, verdict: import('./goals.js').Verdict | null }>} verdicts
 * @param {Array<{ label: string, figure: { value: number, detail: string } | null }>} figures   measures without a target
 * @returns {string}
 */
export function formatGoals (verdicts, figures = []) {
  const measured = figures.filter(({ figure }) => figure !== null)
  return [
    '## Goals of issue 7',
    '',
    ...verdicts.map(({ label, verdict }) => verdict
      ? `- ${verdict.pass ? 'PASS' : 'FAIL'} ${label}: **${verdict.value}** (${verdict.detail})`
      : `- n/a  ${label}: not run`),
    ...(measured.length > 0 ? ['', '## Other figures', '', ...measured.map(({ label, figure }) => `- ${label}: **${figure?.value}** (${figure?.detail})`)] : []),
  ].join('\n')
}

/**
 * Where one replica-routing side's reads went over the whole benchmark, from its /metrics.
 * @typedef {object} ReplicaReads
 * @property {string} target
 * @property {number} onReplica   read transactions committed on a replica
 * @property {number} fallbacks   reads run on the primary because no replica could serve them
 * @property {number} reads       read calls answered (user.get, user.getByLogin, user.list, get_user)
 * @property {number} writes      write calls answered
 */

const READ_METHODS = ['user.get', 'user.getByLogin', 'user.list', 'get_user']

/**
 * @param {string} text   Prometheus text from the service
 * @returns {Omit<ReplicaReads, 'target'>}
 */
export function readsFrom (text) {
  const totals = { onReplica: 0, fallbacks: 0, reads: 0, writes: 0 }
  for (const line of text.split('\n')) {
    const match = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!match) continue
    const [, name, labels = '', value] = match
    if (name === 'db_replica_reads_total') totals.onReplica += Number(value)
    if (name === 'db_replica_fallbacks_total') totals.fallbacks += Number(value)
    if (name === 'rpc_calls_total' && labels.includes('outcome="ok"')) {
      const method = /method="([^"]*)"/.exec(labels)?.[1] ?? ''
      if (READ_METHODS.includes(method)) totals.reads += Number(value)
      else totals.writes += Number(value)
    }
  }
  return totals
}

/** @param {ReplicaReads[]} sides @returns {string} */
export function formatReplicaReads (sides) {
  return [
    '## Reads served by the replica',
    '',
    'Over the whole run (warm-ups included), from the side\'s own /metrics.',
    '',
    '| side | read calls | on the replica | on the primary (fallback) | write calls (primary) |',
    '|---|---:|---:|---:|---:|',
    ...sides.map((side) => `| ${side.target} | ${side.reads} | ${side.onReplica} (${percent(side.reads ? side.onReplica / side.reads : 0)}) | ${side.fallbacks} | ${side.writes} |`),
  ].join('\n')
}
