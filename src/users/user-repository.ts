import type { Prisma } from '../generated/prisma/client.js'
import { loginTaken, versionMismatch } from './user-errors.js'

type Tx = Prisma.TransactionClient

/** A user row as the domain sees it: plain data, no Prisma types. */
export interface UserRecord {
  id: number
  login: string
  firstName: string | null
  lastName: string | null
  createdAt: Date
  updatedAt: Date
  version: number
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
 * Why a write by id matched no row: null when the user does not exist, -32013 when it does
 * but is no longer at the expected version.
 */
async function missingOrChanged (tx: Tx, id: number, expectedVersion: number | undefined): Promise<null> {
  if (expectedVersion === undefined) return null
  const current = await tx.user.findUnique({ where: { id }, select: { version: true } })
  if (!current) return null
  throw versionMismatch(id, expectedVersion, current.version)
}

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

  /**
   * Applies the changes and counts a version; null when there is no such user. With
   * `expectedVersion`, the version is part of the UPDATE's own WHERE: of concurrent updates
   * that expect one version, the first to commit changes the row and the others, which
   * PostgreSQL re-checks against the row it committed, match nothing (-32013).
   */
  async update (tx: Tx, id: number, changes: UserChanges, expectedVersion?: number): Promise<UserRecord | null> {
    try {
      return await tx.user.update({
        where: expectedVersion === undefined ? { id } : { id, version: expectedVersion },
        data: { ...changes, version: { increment: 1 } },
      })
    } catch (error) {
      if (hasCode(error, 'P2025')) return await missingOrChanged(tx, id, expectedVersion)
      if (hasCode(error, 'P2002') && changes.login !== undefined) throw loginTaken(changes.login)
      throw error
    }
  },

  /** The deleted row, or null when there was none; with `expectedVersion`, as update. */
  async delete (tx: Tx, id: number, expectedVersion?: number): Promise<UserRecord | null> {
    try {
      return await tx.user.delete({ where: expectedVersion === undefined ? { id } : { id, version: expectedVersion } })
    } catch (error) {
      if (hasCode(error, 'P2025')) return await missingOrChanged(tx, id, expectedVersion)
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
