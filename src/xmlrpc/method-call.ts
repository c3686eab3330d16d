import { ErrorCode } from '../rpc/errors.js'
import { clip, XmlRpcRefusal, type XmlElement } from './xml-document.js'

/** A value as XML-RPC carries it, in its JSON form (see the type table in docs/xmlrpc-migration.md). */
export type XmlRpcValue = string | number | boolean | null | XmlRpcValue[] | { [name: string]: XmlRpcValue }

/** What a `<methodCall>` asks for. */
export interface XmlRpcCall {
  methodName: string
  params: XmlRpcValue[]
}

const INT4_MIN = -(2 ** 31)
const INT4_MAX = 2 ** 31 - 1
const INTEGER = /^[+-]?\d+$/
// Python's ServerProxy writes floats with repr(), which may use an exponent (1e+20).
const DOUBLE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/

const invalid = (reason: string) => new XmlRpcRefusal(ErrorCode.InvalidRequest, reason)
const tag = (element: XmlElement) => `<${clip(element.name)}>`

/**
 * Reads the XML-RPC grammar from a parsed body: `<methodCall>` with a `<methodName>` and
 * optional `<params>`, each `<param>` one `<value>`. Anything else is refused with a reason,
 * never guessed at: an unknown type tag, an `<i4>` outside 32 bits, a stray element or text.
 */
export function readMethodCall (root: XmlElement): XmlRpcCall {
  if (root.name !== 'methodCall') throw invalid(`the root element must be <methodCall>, not ${tag(root)}`)
  onlyElements(root)
  const [nameElement, paramsElement, ...extra] = root.children
  if (nameElement?.name !== 'methodName') throw invalid('<methodName> is missing')
  if (extra.length > 0 || (paramsElement && paramsElement.name !== 'params')) {
    throw invalid('a <methodCall> holds <methodName> and then <params>, nothing else')
  }
  leaf(nameElement)
  const methodName = nameElement.text.trim()
  if (methodName === '') throw invalid('<methodName> is empty')

  if (!paramsElement) return { methodName, params: [] }
  onlyElements(paramsElement)
  const params = paramsElement.children.map((param) => {
    if (param.name !== 'param') throw invalid(`<params> holds <param> elements, not ${tag(param)}`)
    return readValue(onlyChild(param, 'value'))
  })
  return { methodName, params }
}

/** One `<value>`: a typed child, or bare text, which XML-RPC defines as a string. */
function readValue (value: XmlElement): XmlRpcValue {
  if (value.children.length === 0) return value.text
  const typed = onlyChild(value)
  switch (typed.name) {
    case 'i4':
    case 'int':
      return readInt(typed)
    case 'boolean': {
      const text = leaf(typed).trim()
      if (text !== '0' && text !== '1') throw invalid(`<boolean> must be 0 or 1, not "${clip(text)}"`)
      return text === '1'
    }
    case 'double': {
      const text = leaf(typed).trim()
      const number = Number(text)
      if (!DOUBLE.test(text) || !Number.isFinite(number)) throw invalid(`<double> "${clip(text)}" is not a finite number`)
      return number
    }
    case 'string':
      return leaf(typed)
    case 'nil':
      if (leaf(typed).trim() !== '') throw invalid('<nil/> must be empty')
      return null
    case 'array':
      return onlyElements(onlyChild(typed, 'data')).children.map((item) => {
        if (item.name !== 'value') throw invalid(`<data> holds <value> elements, not ${tag(item)}`)
        return readValue(item)
      })
    case 'struct':
      return readStruct(typed)
    case 'dateTime.iso8601':
    case 'base64':
      throw invalid(`${tag(typed)} values are not supported: no method takes one`)
    default:
      throw invalid(`unknown value type ${tag(typed)}`)
  }
}

function readInt (element: XmlElement): number {
  const text = leaf(element).trim()
  if (!INTEGER.test(text)) throw invalid(`${tag(element)} "${clip(text)}" is not an integer`)
  const number = Number(text)
  if (number < INT4_MIN || number > INT4_MAX) throw invalid(`${tag(element)} ${clip(text)} is outside 32 bits`)
  return number
}

/**
 * Members become own properties (Object.fromEntries), so a member named `__proto__` is a
 * plain unknown name, which the method's params schema then refuses; a repeated name is refused.
 */
function readStruct (struct: XmlElement): Record<string, XmlRpcValue> {
  const members = new Map<string, XmlRpcValue>()
  for (const member of onlyElements(struct).children) {
    if (member.name !== 'member') throw invalid(`<struct> holds <member> elements, not ${tag(member)}`)
    onlyElements(member)
    const [name, value, ...extra] = member.children
    if (name?.name !== 'name' || value?.name !== 'value' || extra.length > 0) {
      throw invalid('a <member> holds <name> and then <value>')
    }
    const key = leaf(name)
    if (members.has(key)) throw invalid(`the member "${clip(key)}" appears twice`)
    members.set(key, readValue(value))
  }
  return Object.fromEntries(members)
}

/** An element that holds text only; returns the text. */
function leaf (element: XmlElement): string {
  if (element.children.length > 0) throw invalid(`${tag(element)} holds text, not ${tag(element.children[0] as XmlElement)}`)
  return element.text
}

/** An element that holds elements only (whitespace between them is fine). */
function onlyElements (element: XmlElement): XmlElement {
  if (element.text.trim() !== '') throw invalid(`${tag(element)} holds elements, not text`)
  return element
}

/** An element that holds exactly one element (of the given name, when one is given). */
function onlyChild (element: XmlElement, name?: string): XmlElement {
  onlyElements(element)
  const [child, ...extra] = element.children
  if (!child || extra.length > 0 || (name !== undefined && child.name !== name)) {
    throw invalid(`${tag(element)} holds exactly one ${name ? `<${name}>` : 'element'}`)
  }
  return child
}
