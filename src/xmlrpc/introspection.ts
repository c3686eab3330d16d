import { ErrorCode, invalidParams, RpcError } from '../rpc/errors.js'
import type { XmlRpcValue } from './method-call.js'

type Schema = { type?: string | string[], anyOf?: Schema[], oneOf?: Schema[] }

/** The parts of the OpenRPC document (rpc.discover) that introspection reads. */
interface OpenRpcDocument {
  methods: Array<{
    name: string
    summary?: string
    description?: string
    params: Array<{ name: string, required?: boolean, schema: Schema }>
    result: { schema: Schema }
  }>
}

export const INTROSPECTION_METHODS = ['system.listMethods', 'system.methodHelp', 'system.methodSignature'] as const
type IntrospectionMethod = (typeof INTROSPECTION_METHODS)[number]

export const isIntrospection = (name: string): name is IntrospectionMethod =>
  (INTROSPECTION_METHODS as readonly string[]).includes(name)

const XMLRPC_TYPES: Record<string, string> = {
  integer: 'int',
  number: 'double',
  string: 'string',
  boolean: 'boolean',
  array: 'array',
  object: 'struct',
}

/**
 * XML-RPC's introspection, read from the OpenRPC document that rpc.discover serves: the
 * method table stays the one registry, and these calls go through the same keys, metrics
 * and logs as any other (as `rpc.discover`).
 */
export function introspect (method: IntrospectionMethod, params: XmlRpcValue[], discovered: unknown): XmlRpcValue {
  const document = discovered as OpenRpcDocument
  if (method === 'system.listMethods') {
    if (params.length > 0) throw invalidParams([{ path: [], message: 'expected no params' }])
    return [...document.methods.map((described) => described.name), ...INTROSPECTION_METHODS]
  }
  const [name, ...extra] = params
  if (typeof name !== 'string' || extra.length > 0) throw invalidParams([{ path: [0], message: 'expected one method name' }])
  const described = document.methods.find((candidate) => candidate.name === name)
  if (!described) throw new RpcError(ErrorCode.MethodNotFound, 'Method not found')
  if (method === 'system.methodHelp') {
    return [described.summary, described.description].filter(Boolean).join('. ')
  }
  // One signature, every param in positional order; methodHelp says which are optional.
  return [[typeOf(described.result.schema), ...described.params.map((param) => typeOf(param.schema))]]
}

/** The XML-RPC type of a JSON Schema; a nullable type is its non-null part (null is <nil/>). */
function typeOf (schema: Schema): string {
  const alternatives = schema.anyOf ?? schema.oneOf
  if (alternatives) {
    const notNull = alternatives.find((alternative) => alternative.type !== 'null')
    return notNull ? typeOf(notNull) : 'nil'
  }
  const types = Array.isArray(schema.type) ? schema.type.filter((type) => type !== 'null') : [schema.type]
  return XMLRPC_TYPES[types[0] ?? ''] ?? 'undef'
}
