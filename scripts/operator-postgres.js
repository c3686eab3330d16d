#!/usr/bin/env node
// @ts-check
/**
 * A lone PostgreSQL server for a shell script (CI's run against Debian's PostgreSQL), started
 * and removed by the one module that starts every PostgreSQL of the tests and scripts
 * (scripts/postgres-topology.js): initdb into a temporary folder, trust on 127.0.0.1, pg_ctl
 * on a free port, as the `postgres` user when run as root.
 *
 *   node scripts/operator-postgres.js start          # prints: <folder> <port> <binaries folder>
 *   node scripts/operator-postgres.js remove FOLDER  # stops it (fast) and removes the folder
 */
import { pgCtlBinaries, removeOperatorPostgres, startOperatorPostgres } from './postgres-topology.js'

const [command, folder] = process.argv.slice(2)
if (command === 'start') {
  const server = await startOperatorPostgres({ outlivesProcess: true })
  console.log(`${server.folder} ${server.port} ${pgCtlBinaries()}`)
} else if (command === 'remove' && folder) {
  await removeOperatorPostgres(folder)
} else {
  console.error('usage: node scripts/operator-postgres.js start | remove FOLDER')
  process.exit(2)
}
