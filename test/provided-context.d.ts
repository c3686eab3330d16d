import 'vitest'

declare module 'vitest' {
  export interface ProvidedContext {
    /** Superuser URL on the test server, for tests that create their own databases. */
    adminDatabaseUrl: string
    /** The migrated database the service tests run against. */
    databaseUrl: string
  }
}
