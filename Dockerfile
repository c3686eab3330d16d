# user-rpc images, from one file:
#   docker build -t user-rpc .                                the service (the default, last stage)
#   docker build --target migrate -t user-rpc-migrate .       prisma migrate deploy, offline
# The service's image holds what serving needs and nothing else: no Prisma CLI, no schema
# engine, no embedded PostgreSQL, no dev tooling. Migrations run from the migrate image as a
# release step: `docker run --rm -e DATABASE_URL=… user-rpc-migrate` (DIRECT_DATABASE_URL
# wins when set, for a database behind PgBouncer). Neither image needs the network at run time.
# Which package goes where is package.json's doing; docs/operations.md "Container" gives the sizes.

# Everything installed; compiles dist/ (with the generated Prisma client).
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/client/package.json ./packages/client/
COPY patches ./patches
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json prisma.config.ts ./
COPY prisma ./prisma
COPY tools ./tools
COPY src ./src
RUN npm run build

# Serving's dependencies only: development ones (--omit=dev) and optional ones (--omit=optional:
# the schema engine's wasm, and the Prisma CLI, an optional peer of @prisma/client) left out.
# Every `npm ci` here applies patches/ (package.json's postinstall, patch-package, a dependency
# for that reason), so the images run the same patched Prisma and pg as the tests and the bench.
FROM node:24-bookworm-slim AS runtime-modules
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/client/package.json ./packages/client/
COPY patches ./patches
RUN npm ci --omit=dev --omit=optional --workspaces=false --no-audit --no-fund

# Serving's dependencies plus the optional ones: the Prisma CLI and the schema engine's wasm.
FROM node:24-bookworm-slim AS migrate-modules
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/client/package.json ./packages/client/
COPY patches ./patches
RUN npm ci --omit=dev --workspaces=false --no-audit --no-fund

# The migrate image: the Prisma CLI on the project's offline schema engine (tools/schema-engine).
# prisma.config.ts reads the database settings through src/config.ts, hence the sources.
FROM node:24-bookworm-slim AS migrate
ENV NODE_ENV=production \
    CHECKPOINT_DISABLE=1 \
    PRISMA_HIDE_UPDATE_MESSAGE=1
WORKDIR /app
COPY --from=migrate-modules /app/node_modules ./node_modules
COPY package.json prisma.config.ts ./
COPY prisma ./prisma
COPY tools ./tools
COPY src ./src
USER node
ENTRYPOINT ["node", "node_modules/prisma/build/index.js"]
CMD ["migrate", "deploy"]

# The service.
FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000
WORKDIR /app
COPY --from=runtime-modules /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json docker-entrypoint.sh ./
# /readyz compares the database with the migrations shipped here.
COPY prisma/migrations ./prisma/migrations
USER node
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8000) + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["./docker-entrypoint.sh"]
CMD ["serve"]
