import type { z } from 'zod'
import { invalidParams, type ParamIssue } from './errors.js'
import type { AnyMethodDefinition } from './method.js'

/** The positional order of a method's params: declared, or the schema's key order. */
export function paramOrderOf (definition: AnyMethodDefinition): readonly string[] {
  return definition.paramOrder ?? Object.keys(definition.params.shape)
}

/**
 * Turns a request's `params` (absent, by-name or by-position) into the method's validated
 * params, or throws -32602 naming every bad field.
 */
export function parseParams (definition: AnyMethodDefinition, raw: unknown): unknown {
  let named: unknown = raw ?? {}
  if (Array.isArray(raw)) {
    const order = paramOrderOf(definition)
    if (raw.length > order.length) {
      throw invalidParams([{ path: [], message: `expected at most ${order.length} positional params, got ${raw.length}` }])
    }
    // Positions past the end of the array are absent, as if the named member were left out.
    named = Object.fromEntries(raw.map((value, index) => [order[index], value]))
  }
  const parsed = definition.params.safeParse(named)
  if (!parsed.success) throw invalidParams(toIssues(parsed.error))
  return parsed.data
}

function toIssues (error: z.ZodError): ParamIssue[] {
  return error.issues.flatMap((issue): ParamIssue[] => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ path: [...issue.path, key].map(toPathPart), message: 'unknown param' }))
    }
    return [{ path: issue.path.map(toPathPart), message: issue.message }]
  })
}

const toPathPart = (part: PropertyKey): string | number => typeof part === 'number' ? part : String(part)
