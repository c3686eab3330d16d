import { createRequire } from 'node:module'
import { Readable } from 'node:stream'
import type { App } from './clients.js'

/**
 * The XML-RPC side of the clients: bodies written out by hand and answers read with the npm
 * xmlrpc package's own reader. It lives apart so the bridge's tests go with the bridge
 * (docs/xmlrpc-migration.md, "when to switch it off").
 */

export interface XmlAnswer {
  status: number
  headers: Record<string, string | string[] | number | undefined>
  body: string
}

/** Posts an XML-RPC body (text, or raw bytes) to the bridge through app.inject. */
export async function postXml (app: App, body: string | Buffer, headers: Record<string, string> = {}, url = '/'): Promise<XmlAnswer> {
  const response = await app.inject({ method: 'POST', url, headers: { 'content-type': 'text/xml', ...headers }, payload: body })
  return { status: response.statusCode, headers: response.headers, body: response.body }
}

/** A `<methodCall>` whose params are given as `<value>` elements, written out in each test. */
export function methodCall (methodName: string, ...values: string[]): string {
  const params = values.map((value) => `<param>${value}</param>`).join('')
  return `<?xml version="1.0"?><methodCall><methodName>${methodName}</methodName><params>${params}</params></methodCall>`
}

/** A string `<value>`, escaped. */
export const text = (value: string) =>
  `<value><string>${value.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;')}</string></value>`

export const int = (value: number) => `<value><int>${value}</int></value>`

export type Reading = { result: unknown } | { fault: { faultCode: number, faultString: string } }

type DeserializerClass = new () => {
  deserializeMethodResponse: (stream: Readable, done: (error: (Error & { faultCode?: number, faultString?: string }) | null, value: unknown) => void) => void
}
// The npm xmlrpc package's response reader (sax-based): an XML-RPC implementation that is
// not ours, so a test reads answers as a client would, not with the service's own code.
const Deserializer = createRequire(import.meta.url)('xmlrpc/lib/deserializer.js') as DeserializerClass

/** Reads a `<methodResponse>` as the npm xmlrpc client does: a result, or a fault. */
export function readResponse (body: string): Promise<Reading> {
  return new Promise((resolve, reject) => {
    new Deserializer().deserializeMethodResponse(Readable.from([body]), (error, value) => {
      if (error && typeof error.faultCode === 'number') resolve({ fault: { faultCode: error.faultCode, faultString: error.faultString ?? '' } })
      else if (error) reject(error)
      else resolve({ result: value })
    })
  })
}
