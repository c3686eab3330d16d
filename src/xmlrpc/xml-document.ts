import { SaxesParser } from 'saxes'
import { ErrorCode } from '../rpc/errors.js'

/** One element of a request body: its name, its child elements, and the text directly in it. */
export interface XmlElement {
  name: string
  children: XmlElement[]
  text: string
}

/** A body that never became a call, with the fault code and the reason the caller is told. */
export class XmlRpcRefusal extends Error {
  override name = 'XmlRpcRefusal'
  constructor (readonly code: typeof ErrorCode.ParseError | typeof ErrorCode.InvalidRequest, readonly reason: string) {
    super(reason)
  }
}

/**
 * Elements nested deeper than this are refused while parsing. A call needs 5 levels for a
 * scalar param and 3 more per nested array or struct; no method takes nested values at all.
 */
export const MAX_DEPTH = 32

const parseError = (reason: string) => new XmlRpcRefusal(ErrorCode.ParseError, reason)

// fatal: invalid bytes throw instead of becoming U+FFFD, so what is stored is what was sent.
const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * Reads an untrusted request body into a small element tree, refusing on the first problem.
 * saxes checks XML 1.0 well-formedness strictly and never processes a DTD: it knows only the
 * five predefined entities and character references, so an entity defined in a DOCTYPE
 * ("billion laughs") or naming a file or URL (XXE) could not be expanded — and a DOCTYPE is
 * refused outright, before any reference is reached. Bytes must be UTF-8, as declared (or
 * undeclared); the body limit bounds the work, the depth limit the nesting.
 */
export function parseXmlDocument (body: Uint8Array): XmlElement {
  let text: string
  try {
    text = utf8.decode(body)
  } catch {
    throw parseError('the body is not valid UTF-8')
  }

  const document: XmlElement = { name: '', children: [], text: '' }
  const open: XmlElement[] = [document]
  const current = () => open[open.length - 1] as XmlElement

  // position: error messages say where ("1:94: undefined entity.").
  const parser = new SaxesParser({ position: true })
  // Handlers throw: saxes calls them synchronously, so the first refusal stops the parse.
  parser.on('error', (error) => { throw parseError(error.message) })
  parser.on('xmldecl', ({ encoding }) => {
    if (encoding !== undefined && !/^utf-?8$/i.test(encoding)) throw parseError(`the encoding must be UTF-8, not ${clip(encoding)}`)
  })
  parser.on('doctype', () => { throw parseError('a DOCTYPE is not allowed') })
  parser.on('opentag', (tag) => {
    if (open.length > MAX_DEPTH) throw parseError(`elements are nested deeper than ${MAX_DEPTH}`)
    const element: XmlElement = { name: tag.name, children: [], text: '' }
    current().children.push(element)
    open.push(element)
  })
  parser.on('closetag', () => { open.pop() })
  parser.on('text', (chunk) => { current().text += chunk })
  parser.on('cdata', (chunk) => { current().text += chunk })
  parser.write(text).close()

  // saxes has already refused a document without exactly one root element.
  return document.children[0] as XmlElement
}

/** Text from the request, shortened for a fault string or a log line. */
export const clip = (text: string, length = 40) => text.length > length ? `${text.slice(0, length)}…` : text
