// @ts-check
/**
 * The Debian packages that the test suite's servers and callers come from, and the one step
 * that makes sure they are there: `npm test` must run whole on a fresh machine, so a missing
 * package is installed by the suite itself (as root, with apt), or the run stops at once with
 * one line naming the package and the command that installs it. Nothing is installed that is
 * already present, so on a prepared machine this costs a few stat() calls.
 */
import { execFile } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

/**
 * @typedef {object} SystemPackage
 * @property {string} name        Debian's package name
 * @property {string} needs       what the suite uses it for, for the error line
 * @property {() => boolean} present
 */

/** Whether some /usr/lib/postgresql/<version>/bin holds `tool`. @param {string} tool */
const postgresTool = (tool) => () => {
  const root = '/usr/lib/postgresql'
  return existsSync(root) && readdirSync(root).some((version) => existsSync(join(root, version, 'bin', tool)))
}

/** @satisfies {Record<string, SystemPackage>} */
export const debianPackages = {
  postgresql: { name: 'postgresql', needs: 'PostgreSQL servers and streaming replicas (pg_basebackup)', present: postgresTool('pg_basebackup') },
  pgbouncer: { name: 'pgbouncer', needs: 'PgBouncer in transaction pooling mode', present: () => existsSync('/usr/sbin/pgbouncer') },
  python3: { name: 'python3', needs: 'the XML-RPC callers written in Python', present: () => existsSync('/usr/bin/python3') },
  autoFailover: { name: 'postgresql-15-auto-failover', needs: 'pg_auto_failover\'s extension for its monitor (the failover tests)', present: () => existsSync('/usr/share/postgresql/15/extension/pgautofailover.control') },
  autoFailoverCli: { name: 'pg-auto-failover-cli', needs: 'pg_autoctl, which runs the pg_auto_failover monitor and nodes (the failover tests)', present: () => existsSync('/usr/bin/pg_autoctl') },
}

/**
 * Installs the missing ones with apt-get when running as root on a machine that has it;
 * otherwise throws one line that names them and the command to run.
 * @param {SystemPackage[]} packages
 * @param {(line: string) => void} [log]
 */
export async function ensureSystemPackages (packages, log = (line) => process.stderr.write(`${line}\n`)) {
  const missing = packages.filter((pkg) => !pkg.present())
  if (missing.length === 0) return
  const names = missing.map((pkg) => pkg.name)
  const command = `apt-get install -y ${names.join(' ')}`
  const why = missing.map((pkg) => `${pkg.name} (${pkg.needs})`).join(', ')
  if (process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) {
    throw new Error(`The test suite needs ${why}: run \`sudo ${command}\`, then npm test again`)
  }
  log(`Installing ${why}: ${command}`)
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  try {
    // A fresh machine may have no package lists yet, and old ones may name removed versions.
    await run('apt-get', ['update', '-qq'], { env, timeout: 300_000 })
    await run('apt-get', ['install', '-y', '-qq', ...names], { env, timeout: 600_000 })
  } catch (error) {
    const failure = /** @type {{ stderr?: string, message: string }} */ (error)
    throw new Error(`\`${command}\` failed: ${(failure.stderr || failure.message).trim().split('\n').at(-1)}`)
  }
  const still = missing.filter((pkg) => !pkg.present()).map((pkg) => pkg.name)
  if (still.length > 0) throw new Error(`\`${command}\` ran, yet ${still.join(', ')} is still missing`)
}
