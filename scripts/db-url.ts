/**
 * `npm run -s db:url`: the URL of the database the tools use, for psql, GUIs and other
 * tools: `psql "$(npm run -s db:url)"`. With no DATABASE_URL, that is the embedded
 * PostgreSQL's, which keeps its port from one start to the next (src/dev-database/port-choice.ts),
 * so a saved URL stays valid. It answers while the service, `npm run dev` or a Prisma command
 * (such as `npx prisma studio`) runs.
 */
import { toolDatabase } from '../src/db/tool-database.js'

const database = await toolDatabase()
process.stdout.write(`${database.url}\n`)
if (database.startedHere) {
  process.stderr.write('db:url: the embedded database was not running, and stops again now; it runs while `npm start`, `npm run dev` or a Prisma command such as `npx prisma studio` runs.\n')
}
await database.release()
