import { fileURLToPath } from 'node:url'
import { defineConfig } from 'prisma/config'

// Prisma's native schema engine is downloaded from binaries.prisma.sh, which
// air-gapped installs cannot reach; tools/schema-engine runs the WebAssembly
// build shipped in node_modules instead (see tools/schema-engine/README.md).
// An explicitly set PRISMA_SCHEMA_ENGINE_BINARY still wins.
process.env.PRISMA_SCHEMA_ENGINE_BINARY ??= fileURLToPath(new URL('./tools/schema-engine/schema-engine.js', import.meta.url))

// The CLI needs a session (migrate holds an advisory lock): DIRECT_DATABASE_URL reaches the
// primary itself when DATABASE_URL goes through a transaction-mode PgBouncer. Empty counts
// as unset, as .env.example leaves it.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: {
    url: process.env.DIRECT_DATABASE_URL || process.env.DATABASE_URL || '',
    shadowDatabaseUrl: process.env.SHADOW_DATABASE_URL,
  },
})
