const INT4_MIN = -(2 ** 31)
const INT4_MAX = 2 ** 31 - 1
const DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'

// Characters XML 1.0 cannot carry at all, escaped or not: C0 controls but tab, LF and CR,
// lone surrogates, U+FFFE and U+FFFF. Stored text never has them (the params schemas refuse
// control characters and ill-formed Unicode), so meeting one is a bug, not a caller's error.
const NOT_XML_CHARACTER = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u
const MARKUP = /[&<>\r]/g
const ENTITY: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '\r': '&#13;' }

/** A result (JSON-RPC's) as a `<methodResponse>`. Throws on a value XML-RPC cannot carry. */
export function encodeResponse (result: unknown): string {
  return `${DECLARATION}<methodResponse><params><param>${encodeValue(result)}</param></params></methodResponse>\n`
}

/** An error as a `<fault>`: faultCode is the JSON-RPC code, faultString its message. */
export function encodeFault (code: number, message: string): string {
  const fault = encodeValue({ faultCode: code, faultString: message })
  return `${DECLARATION}<methodResponse><fault>${fault}</fault></methodResponse>\n`
}

/**
 * JSON to XML-RPC: an integer within 32 bits is `<int>`, any other finite number `<double>`,
 * null `<nil/>` (every current client reads it, Python's default ServerProxy included),
 * objects `<struct>` (members that JSON would drop, undefined ones, are left out too).
 */
function encodeValue (value: unknown): string {
  switch (typeof value) {
    case 'string':
      if (NOT_XML_CHARACTER.test(value)) throw new TypeError('a string holds a character XML cannot carry')
      return `<value><string>${value.replace(MARKUP, (character) => ENTITY[character] as string)}</string></value>`
    case 'number':
      if (Number.isInteger(value) && value >= INT4_MIN && value <= INT4_MAX) return `<value><int>${value}</int></value>`
      if (!Number.isFinite(value)) throw new TypeError(`${value} has no XML-RPC form`)
      return `<value><double>${value}</double></value>`
    case 'boolean':
      return `<value><boolean>${value ? 1 : 0}</boolean></value>`
    case 'object':
      if (value === null) return '<value><nil/></value>'
      if (Array.isArray(value)) return `<value><array><data>${value.map(encodeValue).join('')}</data></array></value>`
      return `<value><struct>${Object.entries(value)
        .filter(([, member]) => member !== undefined)
        .map(([name, member]) => `<member><name>${encodeName(name)}</name>${encodeValue(member)}</member>`)
        .join('')}</struct></value>`
    default:
      throw new TypeError(`a ${typeof value} has no XML-RPC form`)
  }
}

function encodeName (name: string): string {
  if (NOT_XML_CHARACTER.test(name)) throw new TypeError('a member name holds a character XML cannot carry')
  return name.replace(MARKUP, (character) => ENTITY[character] as string)
}
