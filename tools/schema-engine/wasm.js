// @ts-check
// Loads Prisma's schema engine compiled to WebAssembly, so that no native
// binary has to be downloaded.
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import * as glue from '@prisma/schema-engine-wasm/schema_engine_bg'

/**
 * @typedef {typeof import('@prisma/schema-engine-wasm/schema_engine_bg')} Glue
 * @typedef {{ module: string, name: string }} ImportDescriptor
 * @typedef {{ message: string, set_message (message: string): void }} PanicRegistry
 */

// The project's TypeScript lib has no WebAssembly types; this is the slice
// of the API used here.
const wasmApi = /** @type {{
  compile (bytes: Uint8Array): Promise<object>,
  instantiate (module: object, imports: Record<string, object>): Promise<{ exports: Record<string, unknown> }>,
  Module: { imports (module: object): ImportDescriptor[] },
  RuntimeError: new () => Error,
}} */ (/** @type {any} */ (globalThis).WebAssembly)

// The engine reports Rust panics here before trapping; without it a panic
// surfaces only as "RuntimeError: unreachable".
const globals = /** @type {{ PRISMA_WASM_PANIC_REGISTRY?: PanicRegistry }} */ (globalThis)
globals.PRISMA_WASM_PANIC_REGISTRY ??= {
  message: '',
  set_message (message) { this.message = message },
}

/** A failure that leaves the engine unusable, like a native engine panic. */
export class EnginePanic extends Error {}

/**
 * Runs one engine call, turning traps into EnginePanic. wasm-bindgen
 * rethrows failures inside the engine's futures (a Rust panic, params it
 * cannot deserialize) from a microtask, where they would crash the process
 * instead of rejecting the call; they belong to the running call, as calls
 * never overlap, and leave the engine's state (borrow flags included) stuck.
 * @template T
 * @param {() => Promise<T>} call
 * @returns {Promise<T>}
 */
export function callEngine (call) {
  /** @param {unknown} error */
  const asPanic = (error) => new EnginePanic(
    globals.PRISMA_WASM_PANIC_REGISTRY?.message || (error instanceof Error ? error.message : String(error)))
  return new Promise((resolve, reject) => {
    /** @param {unknown} error */
    const uncaught = (error) => reject(asPanic(error))
    process.once('uncaughtException', uncaught)
    Promise.resolve()
      .then(call)
      .then(resolve, (error) => reject(error instanceof wasmApi.RuntimeError ? asPanic(error) : error))
      .finally(() => process.off('uncaughtException', uncaught))
  })
}

// The CLI's own copy comes first: it is built from the same engine commit as
// the CLI that drives us. The glue package's copy is the fallback.
const GLUE = import.meta.resolve('@prisma/schema-engine-wasm')
const CANDIDATES = [
  new URL('build/schema_engine_bg.wasm', import.meta.resolve('prisma/package.json')),
  new URL('schema_engine_bg.wasm', GLUE),
]

const HOW_TO_FIX = 'Install @prisma/schema-engine-wasm at the version matching the prisma package ' +
  '(`npm ls @prisma/engines-version` shows it: 7.x.y-<n>.<engine commit>).'

/** @type {Promise<Glue> | undefined} */
let loaded

/**
 * Instantiates the engine once per process and returns the wasm-bindgen
 * module (SchemaEngine class, version()).
 * @returns {Promise<Glue>}
 */
export function loadSchemaEngine () {
  loaded ??= instantiate()
  return loaded
}

async function instantiate () {
  const { file, bytes } = await readFirst(CANDIDATES)
  const module = await wasmApi.compile(bytes)
  // wasm-bindgen import names carry signature hashes: a .wasm from another
  // wasm-bindgen build than the glue shows up as missing imports, before
  // anything runs.
  const missing = wasmApi.Module.imports(module)
    .filter(({ name }) => typeof (/** @type {Record<string, unknown>} */ (glue))[name] !== 'function')
    .map(({ module: from, name }) => `${from}#${name}`)
  if (missing.length > 0) {
    throw new Error(`${file} does not fit the installed @prisma/schema-engine-wasm glue: it imports ` +
      `${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''}, which the glue lacks. ${HOW_TO_FIX}`)
  }

  /** @type {Record<string, object>} */
  const imports = {}
  for (const { module: name } of wasmApi.Module.imports(module)) imports[name] = glue
  const instance = await wasmApi.instantiate(module, imports)
  glue.__wbg_set_wasm(instance.exports)
  const start = /** @type {() => void} */ (instance.exports.__wbindgen_start)
  start()

  // Same imports can still hide another engine commit; the glue package's
  // version ends with the commit it was built from.
  const { version } = JSON.parse(await readFile(new URL('package.json', GLUE), 'utf8'))
  if (!String(version).endsWith(`.${glue.version()}`)) {
    throw new Error(`${file} is engine ${glue.version()}, the @prisma/schema-engine-wasm glue is ${version}. ${HOW_TO_FIX}`)
  }
  return glue
}

/**
 * @param {URL[]} urls
 * @returns {Promise<{ file: string, bytes: Buffer }>}
 */
async function readFirst (urls) {
  for (const url of urls) {
    const file = fileURLToPath(url)
    try {
      return { file, bytes: await readFile(file) }
    } catch (error) {
      if (/** @type {NodeJS.ErrnoException} */ (error).code !== 'ENOENT') throw error
    }
  }
  throw new Error(`schema_engine_bg.wasm not found; looked at:\n${urls.map((u) => `  ${fileURLToPath(u)}`).join('\n')}`)
}
