import type { Prisma } from '../generated/prisma/client.js'
import { loginTaken } from './user-errors.js'

type Tx = Prisma.TransactionClient

/** A user row as the domain sees it: plain data, no Prisma types. */
export interface UserRecord {
  id: number
  login: string
  firstName: string | null
  lastName: string | null
  createdAt: Date
  updatedAt: Date
}

export interface UserChanges {
  login?: string
  firstName?: string | null
  lastName?: string | null
}

export interface ListQuery {
  afterId: number
  limit: number
  loginPrefix?: string
}

/** Prisma passes startsWith text to LIKE as is, so `_` and `%` would act as wildcards. */
const escapeLike = (text: string) => text.replace(/[\\%_]/g, (char) => `\\${char}`)

const hasCode = (error: unknown, code: string) =>
  typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code

/**
 * The only module that knows how users are stored. Every function runs on the caller's
 * transaction; the caller owns commit and rollback.
 */
export const userRepository = {
  async create (tx: Tx, data: { login: string, firstName?: string | null, lastName?: string | null }): Promise<UserRecord> {
    try {
      return await tx.user.create({ data })
    } catch (error) {
      // login is the table's only unique column besides the generated id.
      if (hasCode(error, 'P2002')) throw loginTaken(data.login)
      throw error
    }
  },

  async findById (tx: Tx, id: number): Promise<UserRecord | null> {
    return await tx.user.findUnique({ where: { id } })
  },

  async findByLogin (tx: Tx, login: string): Promise<UserRecord | null> {
    return await tx.user.findUnique({ where: { login } })
  },

  /** null when there is no such user. */
  async update (tx: Tx, id: number, changes: UserChanges): Promise<UserRecord | null> {
    try {
      return await tx.user.update({ where: { id }, data: changes })
    } catch (error) {
      if (hasCode(error, 'P2025')) return null
      if (hasCode(error, 'P2002') && changes.login !== undefined) throw loginTaken(changes.login)
      throw error
    }
  },

  /** The deleted row, or null when there was none. */
  async delete (tx: Tx, id: number): Promise<UserRecord | null> {
    try {
      return await tx.user.delete({ where: { id } })
    } catch (error) {
      if (hasCode(error, 'P2025')) return null
      throw error
    }
  },

  /** Keyset page by id: stable while rows are inserted, since new ids sort last. */
  async list (tx: Tx, query: ListQuery): Promise<UserRecord[]> {
    return await tx.user.findMany({
      where: {
        id: { gt: query.afterId },
        ...(query.loginPrefix ? { login: { startsWith: escapeLike(query.loginPrefix) } } : {}),
      },
      orderBy: { id: 'asc' },
      take: query.limit,
    })
  },
}
