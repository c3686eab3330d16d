import type { FastifyBaseLogger } from 'fastify'
import type pg from 'pg'
import type { Prisma, PrismaClient } from '../generated/prisma/client.js'
import { describeError, isUnavailable } from './database-errors.js'
import type { DatabaseHandle } from './prisma-client.js'

type Work<R> = (tx: Prisma.TransactionClient) => Promise<R>
type Options = NonNullable<Parameters<PrismaClient['$transaction']>[1]>

/** One replica as /readyz shows it: where, whether reads go there, since when, and why not. */
export interface ReplicaState {
  name: string
  status: 'up' | 'down'
  since: string
  reason?: string
}

/** One replica as /metrics reads it, at scrape time. */
export interface ReplicaStats {
  name: string
  up: boolean
  /** Read transactions this replica committed. */
  reads: number
  pool: pg.Pool
}

export interface NamedDatabase {
  /** host:port, never the URL: it is logged, labelled and shown in /readyz. */
  name: string
  database: DatabaseHandle
}

export interface ReadRoutingOptions {
  primary: DatabaseHandle
  replicas: NamedDatabase[]
  /** How often a replica that failed is tried again. */
  retryMs: number
  log: FastifyBaseLogger
}

interface Replica extends NamedDatabase {
  up: boolean
  since: number
  reason?: string
  reads: number
  probe?: NodeJS.Timeout
}

/**
 * Which database a call's transaction runs on. Writes, and reads whose caller asked for
 * strong consistency, run on the primary. Other reads run on a replica, taken in turn
 * (round-robin over those that are up), in the replica's own Prisma client and pool.
 *
 * A replica that cannot serve a read (refused, unreachable, shutting down, out of
 * connections) is marked down and that read runs again on the primary at once: a read has
 * no effect to undo, so the caller only sees the extra time. While it is down, its share of
 * the reads goes to the other replicas, or to the primary when none is up; one line is
 * logged when the episode starts and one when it ends. A probe (`SELECT 1` through its pool)
 * tries it every `retryMs`; the first answer puts it back in turn. Nothing waits on the
 * probe, so a replica that hangs costs at most the calls that met it first.
 *
 * No `SET TRANSACTION READ ONLY` is sent: a streaming replica refuses writes by itself, and
 * the statement would cost a round trip per call (docs/scaling.md, "Read replicas"). Serializable is
 * not available on a hot standby, so replica transactions run at RepeatableRead instead;
 * a replica serves a snapshot that was consistent on the primary either way.
 */
export function createReadRouting ({ primary, replicas: named, retryMs, log }: ReadRoutingOptions) {
  const replicas: Replica[] = named.map((replica) => ({ ...replica, up: true, since: Date.now(), reads: 0 }))
  let turn = 0
  let fallbacks = 0
  let closed = false

  /** The next replica that is up, in turn; undefined when none is. */
  function pick (): Replica | undefined {
    for (let step = 0; step < replicas.length; step++) {
      const replica = replicas[(turn + step) % replicas.length]
      if (replica?.up) {
        turn = (turn + step + 1) % replicas.length
        return replica
      }
    }
    return undefined
  }

  function markDown (replica: Replica, error: unknown) {
    if (!replica.up) return
    replica.up = false
    replica.since = Date.now()
    replica.reason = describeError(error)
    log.warn({ replica: replica.name, reason: replica.reason }, 'replica unavailable: its reads go to the primary until it answers again')
    scheduleProbe(replica)
  }

  function scheduleProbe (replica: Replica) {
    if (closed) return
    replica.probe = setTimeout(() => {
      replica.database.pool.query('SELECT 1').then(
        () => {
          if (closed) return
          log.info({ replica: replica.name, downMs: Date.now() - replica.since }, 'replica answers again: reads go to it')
          replica.up = true
          replica.since = Date.now()
          delete replica.reason
        },
        () => scheduleProbe(replica)
      )
    }, retryMs)
    replica.probe.unref()
  }

  const onReplica = (options: Options): Options =>
    options.isolationLevel === 'Serializable' ? { ...options, isolationLevel: 'RepeatableRead' } : options

  /** A read: on a replica, or on the primary when none can serve it. */
  async function read<R> (work: Work<R>, options: Options): Promise<R> {
    const replica = pick()
    if (replica) {
      try {
        const result = await replica.database.prisma.$transaction(work, onReplica(options))
        replica.reads++
        return result
      } catch (error) {
        if (!isUnavailable(error)) throw error
        markDown(replica, error)
      }
    }
    fallbacks++
    return await primary.prisma.$transaction(work, options)
  }

  const reads = { $transaction: read }

  return {
    /** The database for one call (rpc/'s ClientFor): the primary, or the replicas' reads. */
    clientFor: (access: 'read' | 'write', consistency: 'eventual' | 'strong') =>
      access === 'read' && consistency === 'eventual' && replicas.length > 0 ? reads : primary.prisma,

    /** Tries every replica once at start, so one that is down is known before a call meets it. */
    async warmUp () {
      await Promise.all(replicas.map(async (replica) => {
        try {
          await replica.database.prisma.$queryRawUnsafe('SELECT 1')
        } catch (error) {
          markDown(replica, error)
        }
      }))
    },

    replicaStates: (): ReplicaState[] => replicas.map((replica) => ({
      name: replica.name,
      status: replica.up ? 'up' : 'down',
      since: new Date(replica.since).toISOString(),
      ...(replica.reason ? { reason: replica.reason } : {}),
    })),

    replicaStats: (): ReplicaStats[] => replicas.map(({ name, up, reads, database }) => ({ name, up, reads, pool: database.pool })),

    /** Reads that went to the primary because no replica could serve them. */
    get fallbacks () { return fallbacks },

    /** Stops the probes and closes the replicas' clients (the primary is its owner's to close). */
    async close () {
      closed = true
      for (const replica of replicas) clearTimeout(replica.probe)
      await Promise.all(replicas.map((replica) => replica.database.close()))
    },
  }
}

export type ReadRouting = ReturnType<typeof createReadRouting>
