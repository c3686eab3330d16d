#!/bin/sh
# `serve` (the default) runs the service; `migrate` applies pending migrations to
# DATABASE_URL and exits; anything else runs as given (e.g. `sh`).
set -eu
case "${1:-serve}" in
  serve) exec node dist/server.js ;;
  migrate) exec node node_modules/prisma/build/index.js migrate deploy ;;
  *) exec "$@" ;;
esac
