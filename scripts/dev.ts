/**
 * `npm run dev`: the service from source, restarted when a file it imports changes, with
 * readable logs. Same settings, `.env` and embedded database as `npm start`; nothing to set up.
 *
 * - The Prisma client is generated first (a fresh clone has none; a pulled schema change
 *   needs a new one), as `npm start`'s build does.
 * - `tsx watch` runs src/server.ts without a build and restarts it within a second of a save
 *   (src/generated/ included, so `npx prisma generate` restarts it too). It does not
 *   type-check: the editor and `npm test` do. A `tsc --watch` + `node --watch` pair would, but
 *   restarts would then wait for the compiler, and each of its emitted files could restart
 *   the service once more.
 * - With no DATABASE_URL, this process holds the embedded PostgreSQL for the whole session, so
 *   each restart of the service joins the running server instead of stopping and starting it.
 * - The service still writes JSON lines, as in production; they are made readable here, by
 *   pino-pretty, which only this script loads.
 */
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import pinoPretty from 'pino-pretty'
import { loadToolConfig } from '../src/config.js'
import { projectRoot } from '../src/paths.js'

const require = createRequire(import.meta.url)
const tsxCli = require.resolve('tsx/cli')
const prismaCli = join(dirname(require.resolve('prisma/package.json')), 'build', 'index.js')
const config = loadToolConfig()

const say = (line: string) => process.stderr.write(`dev: ${line}\n`)

// Its chatter only matters when it fails.
const generated = spawnSync(process.execPath, [prismaCli, 'generate', '--no-hints'], {
  cwd: projectRoot,
  env: { ...process.env, PRISMA_HIDE_UPDATE_MESSAGE: '1' },
  stdio: ['ignore', 'pipe', 'pipe'],
  encoding: 'utf8',
})
if (generated.status !== 0) {
  process.stderr.write(generated.stdout + generated.stderr)
  say('prisma generate failed')
  process.exit(1)
}

// Imported only when used, as the service does: a DATABASE_URL needs none of it.
const database = config.DATABASE_URL
  ? undefined
  : await (await import('../src/dev-database/index.js')).holdEmbeddedPostgres({
    dir: config.EMBEDDED_DATABASE_DIR,
    port: config.EMBEDDED_DATABASE_PORT,
    notice: say,
  })
if (database) say(`embedded PostgreSQL on 127.0.0.1:${database.port}, held for this session (npm run -s db:url prints its URL)`)

// The watcher gets a process group of its own: a Ctrl-C reaches this script alone, which
// passes one signal on. Sent to the whole group, the service would get two (the terminal's
// and tsx's relay) and take the second as "force the exit now".
const watcher = spawn(process.execPath, [tsxCli, 'watch', '--clear-screen=false', 'src/server.ts'], {
  cwd: projectRoot,
  env: { ...process.env, NODE_ENV: process.env.NODE_ENV ?? 'development' },
  stdio: ['ignore', 'pipe', 'inherit'],
  detached: true,
})
watcher.stdout.pipe(pinoPretty({
  translateTime: 'HH:MM:ss.l',
  ignore: 'pid,hostname,service',
  sync: true,
}))

// tsx relays SIGINT and SIGTERM to the service and waits for it; a closed terminal (SIGHUP)
// becomes a SIGTERM, so the service still drains. Only the first signal is passed on: the
// `tsx` that runs this script may relay one we already got, and tsx watch answers a second
// signal by killing the service at once (it also does so by itself after 5 s).
let forwarded = false
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    if (forwarded) return
    forwarded = true
    watcher.kill(signal === 'SIGHUP' ? 'SIGTERM' : signal)
  })
}
// Should this script end any other way, the watcher and the service do not outlive it.
process.on('exit', () => {
  if (watcher.exitCode === null && watcher.pid) {
    try { process.kill(-watcher.pid, 'SIGKILL') } catch { /* already gone */ }
  }
})

const [code] = await once(watcher, 'exit') as [number | null]
await database?.release()
process.exit(code ?? 1)
