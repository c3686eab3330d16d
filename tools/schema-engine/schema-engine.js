#!/usr/bin/env node
// @ts-check
// A drop-in for Prisma's native `schema-engine` binary, built from the
// WebAssembly engine that ships with the `prisma` package, so that
// `prisma migrate *` works where binaries.prisma.sh cannot be reached.
// The CLI finds it through PRISMA_SCHEMA_ENGINE_BINARY (see prisma.config.ts)
// and runs it in one of three ways:
//
//   schema-engine.js --version
//   schema-engine.js --datasource '{"url":…}' cli can-connect-to-database|create-database
//   schema-engine.js --datasource '{"url":…,"shadowDatabaseUrl":…}' [--datamodels <file>…]
//       → JSON-RPC 2.0 server on stdin/stdout until stdin closes
//
// stdout carries protocol output only; logs go to stderr as the JSON lines
// the native engine writes (the CLI scans them for ERROR entries).
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { createAdapterFactory } from './adapter.js'
import { KnownError, canConnectToDatabase, createDatabase } from './database.js'
import { RpcFailure, serve } from './rpc.js'
import { EnginePanic, callEngine, loadSchemaEngine } from './wasm.js'

/**
 * @typedef {import('./adapter.js').Datasource} Datasource
 * @typedef {import('@prisma/schema-engine-wasm').SchemaEngine} SchemaEngine
 * @typedef {{ is_panic: boolean, message: string, error_code?: string, meta?: unknown, backtrace?: string }} ErrorData
 */

// Methods the wasm engine implements under the JSON-RPC name the CLI uses.
const ENGINE_METHODS = /** @type {const} */ ([
  'applyMigrations', 'createMigration', 'dbExecute', 'debugPanic', 'devDiagnostic',
  'diagnoseMigrationHistory', 'ensureConnectionValidity', 'evaluateDataLoss', 'introspect',
  'introspectSql', 'markMigrationApplied', 'markMigrationRolledBack', 'reset', 'schemaPush',
])

// The native engine's code for errors it describes in `data`.
const ENGINE_ERROR = { code: 4466, message: 'An error happened. Check the data field for details.' }

/**
 * @param {'INFO' | 'ERROR'} level
 * @param {Record<string, unknown>} fields
 */
function log (level, fields) {
  process.stderr.write(`${JSON.stringify({ level, fields, target: 'schema_engine::logger' })}\n`)
}

/**
 * @param {string | undefined} json
 * @returns {Partial<Datasource>} with empty strings (an unset env var in prisma.config.ts) as absent
 */
function parseDatasource (json) {
  /** @type {Partial<Datasource>} */
  const datasource = json ? JSON.parse(json) : {}
  return {
    url: datasource.url || undefined,
    shadowDatabaseUrl: datasource.shadowDatabaseUrl || undefined,
  }
}

/**
 * @param {string | undefined} url
 * @returns {string}
 */
function requireUrl (url) {
  if (!url) {
    throw new KnownError('P1012', 'The datasource has no URL. Set `datasource.url` in prisma.config.ts (e.g. from DATABASE_URL).')
  }
  return url
}

/**
 * The one-shot `cli …` commands. The CLI discards the first stderr line and
 * parses the others as JSON log entries, looking for an ERROR with a code.
 * @param {string | undefined} command
 * @param {string | undefined} maybeUrl
 */
async function runCliCommand (command, maybeUrl) {
  log('INFO', { message: 'Starting schema engine CLI (wasm)', command })
  try {
    const url = requireUrl(maybeUrl)
    if (command === 'can-connect-to-database') await canConnectToDatabase(url)
    else if (command === 'create-database') await createDatabase(url)
    else throw new Error(`Unsupported cli command: ${command}`)
  } catch (error) {
    const { code, message } = /** @type {{ code?: unknown, message?: unknown }} */ (error)
    log('ERROR', {
      message: String(message ?? error),
      ...(error instanceof KnownError ? { error_code: code } : {}),
    })
    process.exitCode = 1
  }
}

/**
 * @param {unknown} error
 * @param {import('@prisma/driver-adapter-utils').ErrorRegistry} registry
 * @returns {import('./rpc.js').RpcError & { data: ErrorData }}
 */
function toRpcError (error, registry) {
  if (error instanceof EnginePanic) {
    // The CLI reports a panic with the top-level message.
    const data = { is_panic: true, message: error.message, backtrace: error.stack }
    return { code: ENGINE_ERROR.code, message: error.message, data }
  }
  const { code, message, meta } = /** @type {{ code?: unknown, message?: unknown, meta?: unknown }} */ (error ?? {})
  // JS errors thrown inside the adapter reach the engine only as an id; the
  // error itself waits in the adapter's registry.
  const explained = String(message ?? error).replace(/External error id#(\d+)/g, (match, id) => {
    const captured = registry.consumeError(Number(id))?.error
    return captured instanceof Error ? `${match}: ${captured.message}` : match
  })
  // User-facing engine errors carry their Prisma code (P3xxx…); connector
  // errors (SchemaConnectorError) only a message.
  const errorCode = typeof code === 'string' && /^P\d{4}$/.test(code) ? { error_code: code } : {}
  return { ...ENGINE_ERROR, data: { is_panic: false, message: explained, meta, ...errorCode } }
}

/**
 * @param {Partial<Datasource>} datasource
 * @param {string[]} datamodelPaths
 */
async function serveRpc ({ url, shadowDatabaseUrl }, datamodelPaths) {
  // Connects only when the engine asks, and the engine starts only after
  // requireUrl(url) has passed.
  const { factory, close } = createAdapterFactory({ url: url ?? '', shadowDatabaseUrl })
  /** @type {Promise<SchemaEngine> | undefined} */
  let engine
  /** @type {EnginePanic | undefined} nothing in the engine is safe to call after one */
  let panic

  // Started on the first request, so that a CLI that only spawns and stops
  // the engine never pays for compiling 5 MB of wasm or connecting.
  async function startEngine () {
    const [{ SchemaEngine }, datamodels] = await Promise.all([
      loadSchemaEngine(),
      Promise.all(datamodelPaths.map(async (path) => /** @type {[string, string]} */ ([path, await readFile(path, 'utf8')]))),
    ])
    const forwardLog = (/** @type {string} */ line) => { process.stderr.write(line.endsWith('\n') ? line : `${line}\n`) }
    return callEngine(() => SchemaEngine.new({ datamodels: datamodels.length > 0 ? datamodels : undefined }, forwardLog, factory))
  }

  /** @type {import('./rpc.js').Handler} */
  async function handle (method, params, peer) {
    if (method === 'createDatabase') return { databaseName: await createDatabase(requireUrl(url)) }
    requireUrl(url)

    engine ??= startEngine().catch((error) => {
      engine = undefined // let the next request try again
      throw error
    })
    const started = await engine
    const input = /** @type {any} */ (params)
    if (method === 'diff') {
      // The native engine hands the script to the CLI as a `print` request;
      // the wasm one returns it instead.
      const { stdout, ...result } = await callEngine(() => started.diff(input))
      if (stdout) await peer.request('print', { content: stdout.replace(/\n$/, '') })
      return result
    }
    // The wasm engine ignores this method's params (and chokes on partial ones).
    if (method === 'getDatabaseVersion') return callEngine(() => started.version())
    const name = ENGINE_METHODS.find((known) => known === method)
    if (!name) {
      throw new RpcFailure({ code: -32601, message: 'Method not found', data: { is_panic: false, message: `The wasm schema engine does not implement \`${method}\`.` } })
    }
    // wasm-bindgen methods need the instance as `this`.
    const call = () => callEngine(() => Reflect.apply(started[name], started, [input]))
    if (name !== 'evaluateDataLoss' && name !== 'createMigration') return call()
    try {
      return await call()
    } catch (error) {
      // These two replay the migrations into a shadow database only through
      // a cache filled by diagnoseMigrationHistory with the migrations the
      // database had then. On a fresh database (`migrate dev` applies the
      // history first) the cache misses, and the wasm engine has no other
      // route to a shadow database. Diagnose again, now that the database
      // holds the whole history, and retry.
      if (!String(/** @type {Error} */ (error)?.message).includes('shadow DB must be provided through an external factory')) throw error
      await callEngine(() => started.diagnoseMigrationHistory({
        migrationsList: input.migrationsList, optInToShadowDatabase: true, filters: input.filters,
      }))
      return call()
    }
  }

  // The CLI closes stdin and, on Linux, sends SIGTERM right away, so both
  // paths end here. Disposing what is left drops temporary shadow databases
  // a failed command never released, and ends sessions politely.
  /** @type {Promise<never> | undefined} */
  let exiting
  const exit = () => {
    // 101 is how the native engine reports a panic.
    exiting ??= close().then(() => process.exit(panic ? 101 : 0))
    return exiting
  }
  process.once('SIGTERM', exit)
  process.once('SIGINT', exit)

  await serve({
    input: process.stdin,
    output: process.stdout,
    handle: async (method, params, peer) => {
      if (panic) throw panic
      return handle(method, params, peer)
    },
    toRpcError: (error) => {
      if (error instanceof EnginePanic) panic ??= error
      return toRpcError(error, factory.errorRegistry)
    },
  })
  await exit() // explicitly: pg pools' idle timers would keep the process alive
}

async function main () {
  const { values, positionals } = parseArgs({
    options: {
      version: { type: 'boolean', short: 'V' },
      datasource: { type: 'string' },
      datamodels: { type: 'string', multiple: true },
    },
    allowPositionals: true,
    strict: false, // tolerate flags of newer CLIs (--enabled-preview-features, …)
  })
  if (values.version) {
    process.stdout.write(`schema-engine-cli ${(await loadSchemaEngine()).version()}\n`)
    return
  }
  const datasource = parseDatasource(typeof values.datasource === 'string' ? values.datasource : undefined)
  if (positionals[0] === 'cli') {
    await runCliCommand(positionals[1], datasource.url)
    return
  }
  const datamodels = (values.datamodels ?? []).filter((path) => typeof path === 'string')
  await serveRpc(datasource, datamodels)
}

await main().catch((error) => {
  process.stderr.write(`schema-engine: ${error instanceof Error ? error.message : error}\n`)
  process.exit(1)
})
