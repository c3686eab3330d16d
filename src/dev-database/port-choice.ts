import { readFile, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'

/** The port the server last ran on, kept with its data so its URL stays the same. */
const rememberedPortFile = (dir: string) => join(dir, 'user-rpc.port')

/**
 * The port to start the server on:
 * - `requested` > 0: that port (EMBEDDED_DATABASE_PORT);
 * - `requested` 0: any free port, at each start (throwaway servers, tests);
 * - unset: the port this data folder last ran on, so a URL kept in psql, a GUI or a `.env`
 *   stays valid; a free port the first time, and again (said, and remembered) if another
 *   program has taken it since.
 */
export async function choosePort (dir: string, requested: number | undefined, notice: (line: string) => void): Promise<number> {
  if (requested !== undefined && requested > 0) return requested
  if (requested === 0) return await freePort()
  const remembered = Number.parseInt(await readFile(rememberedPortFile(dir), 'utf8').catch(() => ''), 10)
  if (remembered > 0 && await isPortFree(remembered)) return remembered
  const port = await freePort()
  if (remembered > 0) notice(`embedded database: port ${remembered} is taken by another program; using ${port} from now on`)
  return port
}

export async function rememberPort (dir: string, port: number) {
  await writeFile(rememberedPortFile(dir), `${port}\n`)
}

async function freePort (): Promise<number> {
  return await listenOnce(0)
}

async function isPortFree (port: number): Promise<boolean> {
  try {
    await listenOnce(port)
    return true
  } catch {
    return false
  }
}

/** Listens on 127.0.0.1:port and closes at once; resolves with the port it got. */
async function listenOnce (port: number): Promise<number> {
  return await new Promise((resolve, reject) => {
    const probe = createServer()
    probe.unref()
    probe.on('error', reject)
    probe.listen(port, '127.0.0.1', () => {
      const address = probe.address()
      probe.close(() => typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')))
    })
  })
}
