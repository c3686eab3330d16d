import { fileURLToPath } from 'node:url'
import { defineConfig } from 'prisma/config'
import { readEnvironment } from './src/config.js'
import { toolDatabase } from './src/db/tool-database.js'

// Prisma's native schema engine is downloaded from binaries.prisma.sh, which
// air-gapped installs cannot reach; tools/schema-engine runs the WebAssembly
// build shipped in node_modules instead (see tools/schema-engine/README.md).
// An explicitly set PRISMA_SCHEMA_ENGINE_BINARY still wins.
process.env.PRISMA_SCHEMA_ENGINE_BINARY ??= fileURLToPath(new URL('./tools/schema-engine/schema-engine.js', import.meta.url))

/** Prisma commands that talk to a database; the others (generate, validate, format…) never start one. */
const DATABASE_COMMANDS = new Set(['migrate', 'db', 'studio'])
const command = process.argv.slice(2).find((arg) => !arg.startsWith('-'))

// The environment over `.env`, as the service reads it. Migrations need a session-level
// connection, so DIRECT_DATABASE_URL wins over DATABASE_URL (which may go through a
// transaction pooler). With neither, a database command runs on the embedded PostgreSQL the
// service uses: joined if it runs, started for the command if not (src/db/tool-database.ts).
const environment = readEnvironment()
const url = command && DATABASE_COMMANDS.has(command)
  ? (await toolDatabase(environment)).url
  : environment.DIRECT_DATABASE_URL || environment.DATABASE_URL || ''

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: {
    path: 'prisma/migrations',
    seed: 'tsx prisma/seed.ts',
  },
  datasource: {
    url,
    shadowDatabaseUrl: environment.SHADOW_DATABASE_URL || undefined,
  },
})
