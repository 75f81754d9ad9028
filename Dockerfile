# syntax=docker/dockerfile:1
# audience-sync: one image for the API (`serve`) and the BullMQ processors (`worker`).

# --- build: compile TypeScript with the full dependency set ---------------------------------------
FROM node:20.20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No dependency needs its install scripts (optional native speed-ups fall back to JavaScript).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY connectors ./connectors
COPY scripts ./scripts
RUN npm run build

# --- deps: production dependencies only ---------------------------------------------------------
FROM node:20.20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --legacy-peer-deps: typescript (a dev dependency) is also an optional peer of valibot (through
# @bull-board/api), which would keep its 23 MiB here; the runtime loads neither it nor any other peer
# that is not a dependency in its own right.
# Then scripts/prune-modules.mjs deletes what Node never loads (TypeScript declarations and sources,
# source maps, Markdown, packages' tests and examples, builds for other platforms; figures in
# docs/benchmarks.md, Footprint). It checks first that nothing that stays leads to what it deletes, and stops the build if something does.
COPY scripts/prune-modules.mjs ./scripts/
RUN npm ci --omit=dev --legacy-peer-deps --ignore-scripts --no-audit --no-fund && npm cache clean --force \
 && node scripts/prune-modules.mjs node_modules

# --- runtime: compiled code, production dependencies, non-root user -----------------------------
FROM node:20.20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    STORE_URL=/data \
    CONFIG=/config/audience-sync.yaml \
    PORT=8080
WORKDIR /app
COPY --from=deps --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --chown=node:node package.json ./
COPY --chown=node:node bin ./bin
COPY --chown=node:node audience-sync.example.yaml /config/audience-sync.yaml
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080
# The API answers /healthz; the worker service overrides this check in docker-compose.yml.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# The Node.js flags of bin/audience-sync.js's first line (why: the comment under it), repeated here
# since the image runs the file with `node` rather than as a program (test/deploy checks they agree).
ENTRYPOINT ["node", "--initial-old-space-size=64", "bin/audience-sync.js"]
CMD ["serve"]
