import { z } from 'zod'
import { ErrorCode } from '../rpc/errors.js'
import { idempotencyKeySchema } from '../rpc/idempotency.js'
import { defineMethod } from '../rpc/method.js'
import { decodeCursor, encodeCursor } from '../rpc/cursor.js'
import { userNotFound } from './user-errors.js'
import { userRepository, type UserRecord } from './user-repository.js'
import {
  legacyUserSchema,
  LIST_LIMIT_DEFAULT,
  LIST_LIMIT_MAX,
  loginSchema,
  nameSchema,
  storableText,
  userIdSchema,
  userSchema,
  versionSchema,
  type LegacyUserDto,
  type UserDto,
} from './user-schemas.js'

const toUserDto = (user: UserRecord): UserDto => ({
  id: user.id,
  login: user.login,
  firstName: user.firstName,
  lastName: user.lastName,
  createdAt: user.createdAt.toISOString(),
  updatedAt: user.updatedAt.toISOString(),
  version: user.version,
})

const toLegacyDto = (user: UserRecord): LegacyUserDto => ({
  user_id: user.id,
  login: user.login,
  first_name: user.firstName,
  last_name: user.lastName,
})

const NOT_FOUND = { code: ErrorCode.NotFound, message: 'User not found (data: {id} or {login})' }
const LOGIN_TAKEN = { code: ErrorCode.Conflict, message: 'Login already taken (data: {login})' }
const KEY_REUSED = { code: ErrorCode.IdempotencyKeyReused, message: 'Idempotency key already used for another call (data: {idempotencyKey})' }
const VERSION_MISMATCH = { code: ErrorCode.VersionMismatch, message: 'Version mismatch (data: {id, expectedVersion, currentVersion})' }

const exampleUser: UserDto = {
  id: 1,
  login: 'ada',
  firstName: 'Ada',
  lastName: 'Lovelace',
  createdAt: '2026-01-01T12:00:00.000Z',
  updatedAt: '2026-01-01T12:00:00.000Z',
  version: 1,
}

const cursorSchema = z.string({ error: 'cursor must be a string' })
  .transform((cursor, context) => {
    const afterId = decodeCursor(cursor)
    if (afterId === null) {
      context.addIssue({ code: 'custom', message: 'cursor is not one this service issued' })
      return z.NEVER
    }
    return afterId
  })
  .meta({ description: 'nextCursor from the previous page' })

/** The user domain's methods; the key is the JSON-RPC method name. */
export const userMethods = {
  'user.create': defineMethod({
    summary: 'Create a user',
    access: 'write',
    idempotent: true,
    params: z.strictObject({
      login: loginSchema,
      firstName: nameSchema.optional(),
      lastName: nameSchema.optional(),
      idempotencyKey: idempotencyKeySchema.optional(),
    }),
    result: userSchema,
    errors: [LOGIN_TAKEN, KEY_REUSED],
    examples: [{ name: 'a new user', params: { login: 'ada', firstName: 'Ada', lastName: 'Lovelace' }, result: exampleUser }],
    handler: async (params, { tx }) => toUserDto(await userRepository.create(tx, params)),
  }),

  'user.get': defineMethod({
    summary: 'Get a user by id',
    access: 'read',
    params: z.strictObject({ id: userIdSchema }),
    result: userSchema,
    errors: [NOT_FOUND],
    examples: [{ name: 'an existing user', params: { id: 1 }, result: exampleUser }],
    handler: async ({ id }, { tx }) => {
      const user = await userRepository.findById(tx, id)
      if (!user) throw userNotFound({ id })
      return toUserDto(user)
    },
  }),

  'user.getByLogin': defineMethod({
    summary: 'Get a user by login',
    access: 'read',
    params: z.strictObject({ login: loginSchema }),
    result: userSchema,
    errors: [NOT_FOUND],
    examples: [{ name: 'an existing login', params: { login: 'ada' }, result: exampleUser }],
    handler: async ({ login }, { tx }) => {
      const user = await userRepository.findByLogin(tx, login)
      if (!user) throw userNotFound({ login })
      return toUserDto(user)
    },
  }),

  'user.update': defineMethod({
    summary: 'Change a user\'s login or names',
    description: 'Give at least one field to change; null clears a name. With expectedVersion, only if the user is still at that version.',
    access: 'write',
    idempotent: true,
    params: z.strictObject({
      id: userIdSchema,
      login: loginSchema.optional(),
      firstName: nameSchema.optional(),
      lastName: nameSchema.optional(),
      expectedVersion: versionSchema.optional(),
      idempotencyKey: idempotencyKeySchema.optional(),
    }).refine(
      ({ login, firstName, lastName }) => login !== undefined || firstName !== undefined || lastName !== undefined,
      'give at least one of login, firstName, lastName'
    ),
    result: userSchema,
    errors: [NOT_FOUND, LOGIN_TAKEN, VERSION_MISMATCH, KEY_REUSED],
    // Example params fill the leading positions: tools replay examples by position.
    examples: [{
      name: 'change a first name',
      params: { id: 1, login: 'ada', firstName: 'Augusta' },
      result: { ...exampleUser, firstName: 'Augusta', updatedAt: '2026-01-02T08:30:00.000Z', version: 2 },
    }],
    handler: async ({ id, expectedVersion, ...changes }, { tx }) => {
      const user = await userRepository.update(tx, id, changes, expectedVersion)
      if (!user) throw userNotFound({ id })
      return toUserDto(user)
    },
  }),

  'user.delete': defineMethod({
    summary: 'Delete a user; returns the deleted user',
    description: 'With expectedVersion, only if the user is still at that version.',
    access: 'write',
    idempotent: true,
    params: z.strictObject({ id: userIdSchema, expectedVersion: versionSchema.optional(), idempotencyKey: idempotencyKeySchema.optional() }),
    result: userSchema,
    errors: [NOT_FOUND, VERSION_MISMATCH, KEY_REUSED],
    examples: [{ name: 'delete a user', params: { id: 1 }, result: exampleUser }],
    handler: async ({ id, expectedVersion }, { tx }) => {
      const user = await userRepository.delete(tx, id, expectedVersion)
      if (!user) throw userNotFound({ id })
      return toUserDto(user)
    },
  }),

  'user.list': defineMethod({
    summary: 'List users by id, a page at a time',
    description: 'Keyset pagination: pass nextCursor back as cursor; null nextCursor means the last page.',
    access: 'read',
    params: z.strictObject({
      limit: z.number({ error: 'limit must be a number' }).int('limit must be an integer')
        .min(1, 'limit must be at least 1').max(LIST_LIMIT_MAX, `limit must be at most ${LIST_LIMIT_MAX}`)
        .optional()
        .meta({ description: `Page size, 1-${LIST_LIMIT_MAX}, default ${LIST_LIMIT_DEFAULT}` }),
      cursor: cursorSchema.optional(),
      loginPrefix: storableText('loginPrefix')
        .optional()
        .meta({ maxLength: 30, description: 'Only logins that start with this text' }),
    }),
    result: z.strictObject({ items: z.array(userSchema), nextCursor: z.string().nullable() }).meta({ title: 'UserPage' }),
    errors: [],
    examples: [{ name: 'first page', params: { limit: 2 }, result: { items: [exampleUser], nextCursor: null } }],
    handler: async ({ limit = LIST_LIMIT_DEFAULT, cursor, loginPrefix }, { tx }) => {
      // One row past the page tells whether there is a next page without a count query.
      const rows = await userRepository.list(tx, { afterId: cursor ?? 0, limit: limit + 1, loginPrefix })
      const page = rows.slice(0, limit)
      const last = page.at(-1)
      return {
        items: page.map(toUserDto),
        nextCursor: rows.length > limit && last ? encodeCursor(last.id) : null,
      }
    },
  }),

  create_user: defineMethod({
    summary: 'Create a user (the original XML-RPC method)',
    description: 'Positional params [login, first_name, last_name]; returns {user_id, login, first_name, last_name}. Honours the Idempotency-Key header.',
    access: 'write',
    idempotent: true,
    params: z.strictObject({ login: loginSchema, first_name: nameSchema.optional(), last_name: nameSchema.optional() }),
    paramOrder: ['login', 'first_name', 'last_name'],
    result: legacyUserSchema,
    errors: [LOGIN_TAKEN, KEY_REUSED],
    examples: [{
      name: 'a new user',
      params: { login: 'grace', first_name: 'Grace', last_name: 'Hopper' },
      result: { user_id: 2, login: 'grace', first_name: 'Grace', last_name: 'Hopper' },
    }],
    handler: async ({ login, first_name: firstName, last_name: lastName }, { tx }) =>
      toLegacyDto(await userRepository.create(tx, { login, firstName, lastName })),
  }),

  get_user: defineMethod({
    summary: 'Get a user by id (the original XML-RPC method)',
    description: 'Positional params [user_id]; a missing user is the error "No such user".',
    access: 'read',
    params: z.strictObject({ user_id: userIdSchema }),
    result: legacyUserSchema,
    errors: [{ code: ErrorCode.NotFound, message: 'No such user (data: {id})' }],
    examples: [{
      name: 'an existing user',
      params: { user_id: 2 },
      result: { user_id: 2, login: 'grace', first_name: 'Grace', last_name: 'Hopper' },
    }],
    handler: async ({ user_id: id }, { tx }) => {
      const user = await userRepository.findById(tx, id)
      if (!user) throw userNotFound({ id }, 'No such user')
      return toLegacyDto(user)
    },
  }),
}
