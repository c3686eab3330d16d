#!/bin/sh
# `serve` (the default) runs the service; anything else runs as given (e.g. `sh`).
# The preload starts OpenTelemetry tracing when OTEL_* variables ask for it (docs/observability.md).
# Migrations are not in this image: they run from the migrate image (see the Dockerfile).
set -eu
case "${1:-serve}" in
  serve) exec node --import ./dist/telemetry.js dist/server.js ;;
  migrate)
    echo "user-rpc: this image has no Prisma CLI; apply migrations with the migrate image: docker build --target migrate -t user-rpc-migrate . && docker run --rm -e DATABASE_URL=... user-rpc-migrate" >&2
    exit 64 ;;
  *) exec "$@" ;;
esac
