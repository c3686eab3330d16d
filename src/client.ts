/**
 * The typed client is the package in packages/client (@user-rpc/client). This re-export is only
 * for tests written against its old place here; the service's build leaves it out
 * (tsconfig.build.json), and the service's package exports nothing.
 */
export * from '@user-rpc/client'
