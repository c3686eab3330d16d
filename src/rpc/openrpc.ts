import { z } from 'zod'
import { ErrorCode, errorDescriptions, type ErrorCodeValue } from './errors.js'
import type { AnyMethodDefinition, MethodTable } from './method.js'
import { paramOrderOf } from './params.js'

export interface DocumentInfo {
  title: string
  version: string
  description?: string
}

/** Errors any method can return, beside the ones its definition lists. */
const COMMON_ERRORS: ErrorCodeValue[] = [
  ErrorCode.InvalidParams,
  ErrorCode.InternalError,
  ErrorCode.Unauthorized,
  ErrorCode.TransactionConflict,
  ErrorCode.Unavailable,
]

/**
 * `format` is left out where a `pattern` already says the same thing: OpenRPC tools such as
 * @open-rpc/test-coverage compile schemas with a strict Ajv that rejects unknown formats.
 */
const toSchema = (schema: z.ZodType, io: 'input' | 'output') =>
  z.toJSONSchema(schema, {
    target: 'draft-7',
    io,
    unrepresentable: 'any',
    override: ({ jsonSchema }) => {
      if (jsonSchema.format && jsonSchema.pattern) delete jsonSchema.format
    },
  }) as Record<string, unknown>

/**
 * Builds the OpenRPC 1.x document from the method table: the same zod schemas that validate
 * calls give every param and result schema, so the document cannot disagree with the code.
 */
export function buildOpenRpcDocument (methods: MethodTable, info: DocumentInfo) {
  return {
    openrpc: '1.3.2',
    info,
    methods: Object.entries(methods).map(([name, definition]) => describeMethod(name, definition)),
  }
}

function describeMethod (name: string, definition: AnyMethodDefinition) {
  const paramsSchema = toSchema(definition.params, 'input') as { properties?: Record<string, unknown>, required?: string[] }
  const required = new Set(paramsSchema.required ?? [])
  const order = paramOrderOf(definition)
  const errorCodes = [...new Map(
    [...definition.errors, ...COMMON_ERRORS.map((code) => ({ code, message: errorDescriptions[code] }))]
      .map((error) => [error.code, error])
  ).values()]
  return {
    name,
    summary: definition.summary,
    ...(definition.description ? { description: definition.description } : {}),
    tags: [{ name: definition.access }],
    paramStructure: 'either',
    params: order.map((param) => ({
      name: param,
      required: required.has(param),
      schema: paramsSchema.properties?.[param] ?? {},
    })),
    result: { name: 'result', schema: withoutDialect(toSchema(definition.result, 'output')) },
    errors: errorCodes,
    examples: definition.examples.map((example) => ({
      name: example.name,
      params: order
        .filter((param) => (example.params as Record<string, unknown>)[param] !== undefined)
        .map((param) => ({ name: param, value: (example.params as Record<string, unknown>)[param] })),
      result: { name: 'result', value: example.result },
    })),
  }
}

/** OpenRPC embeds schemas; a `$schema` member inside a method is noise. */
function withoutDialect (schema: Record<string, unknown>) {
  const { $schema: _dialect, ...rest } = schema
  return rest
}
