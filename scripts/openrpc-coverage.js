#!/usr/bin/env node
// @ts-check
/**
 * Runs @open-rpc/test-coverage against the live service: starts the built server on a
 * fresh embedded database, reads its rpc.discover document, replays every example pairing
 * over HTTP, and checks each result against the example and the result schema.
 *
 * The tool's own reporters exit 0 even when calls fail, so this script counts the calls
 * itself and exits 1 if any failed. Usage: `npm run build && node scripts/openrpc-coverage.js`.
 */
import coverageModule from '@open-rpc/test-coverage'
import { startBuiltService } from './built-service.js'

/** @type {(options: Record<string, unknown>) => Promise<unknown>} */
const coverage = /** @type {any} */ (coverageModule).default ?? coverageModule

const service = await startBuiltService()
let failed = 0
try {
  const document = await discover(service.url)
  document.servers = [{ name: 'live service', url: service.url }]

  /** @type {Array<{ methodName: string, title: string, valid?: boolean, reason?: string }>} */
  const calls = []
  const collector = {
    onBegin () {},
    onTestBegin () {},
    /** @param {unknown} _options @param {any} call */
    onTestEnd (_options, call) { calls.push(call) },
    onEnd () {},
  }
  await coverage({ openrpcDocument: document, transport: 'http', reporters: [collector], skip: [], only: [] })

  const methods = new Set(document.methods.map((/** @type {{ name: string }} */ method) => method.name))
  const covered = new Set(calls.map((call) => call.methodName))
  for (const call of calls) {
    console.log(`${call.valid ? 'pass' : 'FAIL'}  ${call.methodName}  ${call.title}${call.valid ? '' : `\n      ${call.reason}`}`)
  }
  failed = calls.filter((call) => !call.valid).length
  const uncovered = [...methods].filter((name) => !covered.has(name))
  console.log(`openrpc coverage: ${calls.length - failed} of ${calls.length} calls valid, ${covered.size} of ${methods.size} methods exercised${uncovered.length ? ` (not exercised: ${uncovered.join(', ')})` : ''}`)
  if (uncovered.length > 0) failed += uncovered.length
} finally {
  await service.stop()
}
process.exit(failed > 0 ? 1 : 0)

/** @param {string} url */
async function discover (url) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', method: 'rpc.discover', id: 1 }),
  })
  return /** @type {{ result: any }} */ (await response.json()).result
}
