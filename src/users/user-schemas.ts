import { z } from 'zod'

/** Length as PostgreSQL counts varchar: characters (code points), not UTF-16 units. */
const characters = (value: string) => [...value].length

const MAX_TEXT = 30

// The same rules as JSON Schema patterns, for the OpenRPC document and generated clients.
const NO_CONTROLS = '[^\\x00-\\x1f\\x7f-\\x9f]'
const NOT_BLANK_NO_CONTROLS = '[^\\s\\x00-\\x1f\\x7f-\\x9f]'
const LOGIN_PATTERN = `^${NO_CONTROLS}*${NOT_BLANK_NO_CONTROLS}${NO_CONTROLS}*$`
const NAME_PATTERN = `^${NO_CONTROLS}*$`
const MAX_INT4 = 2_147_483_647

/**
 * Text that PostgreSQL stores exactly as sent: well-formed Unicode (a lone surrogate would be
 * silently replaced), no control characters (NUL cannot be stored at all), at most 30
 * characters. The JSON Schema keywords are added for the OpenRPC document, where maxLength
 * also counts code points.
 */
export const storableText = (what: string) =>
  z.string({ error: `${what} must be a string` })
    .refine((value) => value.isWellFormed(), `${what} must be valid Unicode`)
    .refine((value) => !/\p{Cc}/u.test(value), `${what} must not contain control characters`)
    .refine((value) => characters(value) <= MAX_TEXT, `${what} must be at most ${MAX_TEXT} characters`)

export const loginSchema = storableText('login')
  .refine((value) => /\S/u.test(value), 'login must not be blank')
  .meta({ minLength: 1, maxLength: MAX_TEXT, pattern: LOGIN_PATTERN, description: 'Unique login, 1-30 characters, not blank, no control characters' })

export const nameSchema = storableText('name')
  .meta({ maxLength: MAX_TEXT, pattern: NAME_PATTERN })
  .nullable()
  .meta({ description: 'Up to 30 characters without control characters, or null' })

export const userIdSchema = z.number({ error: 'id must be a number' })
  .int('id must be an integer')
  .min(1, 'id must be at least 1')
  .max(MAX_INT4, `id must be at most ${MAX_INT4}`)
  .meta({ description: 'User id, an integer from 1 to 2147483647' })

export const versionSchema = z.number({ error: 'expectedVersion must be a number' })
  .int('expectedVersion must be an integer')
  .min(1, 'expectedVersion must be at least 1')
  .max(MAX_INT4, `expectedVersion must be at most ${MAX_INT4}`)
  .meta({ description: 'The user\'s version as you last read it: the call changes nothing and answers -32013 unless it is still the current one' })

/** The user as the API returns it. */
export const userSchema = z.strictObject({
  id: z.number().int(),
  login: z.string(),
  firstName: z.string().nullable(),
  lastName: z.string().nullable(),
  createdAt: z.iso.datetime().meta({ description: 'ISO 8601 UTC timestamp' }),
  updatedAt: z.iso.datetime().meta({ description: 'ISO 8601 UTC timestamp' }),
  version: z.number().int().meta({ description: '1 when created, +1 on every update; give it back as expectedVersion' }),
}).meta({ title: 'User' })

export type UserDto = z.output<typeof userSchema>

/** The original XML-RPC service's user shape, for clients migrating from it. */
export const legacyUserSchema = z.strictObject({
  user_id: z.number().int(),
  login: z.string(),
  first_name: z.string().nullable(),
  last_name: z.string().nullable(),
}).meta({ title: 'LegacyUser' })

export type LegacyUserDto = z.output<typeof legacyUserSchema>

export const LIST_LIMIT_DEFAULT = 20
export const LIST_LIMIT_MAX = 100
