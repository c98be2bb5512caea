# reviewloop worker image. Multi-stage: compile with dev dependencies, ship
# production dependencies + dist/ only, run as the unprivileged `node` user
# under tini (PID 1 forwards SIGTERM and reaps), probe /healthz with node
# itself (slim images have no curl).
#
#   docker build -t reviewloop .
#   docker run -v $PWD/reviewloop.yaml:/config/reviewloop.yaml:ro -p 8080:8080 reviewloop
#
# Base images are pinned to a patch release of Node 20, the major CI tests and
# package.json's `engines` names; pin the digest too
# (node:20.20.2-bookworm-slim@sha256:…) in your registry mirror, and bump both together.

FROM node:20.20.2-bookworm-slim AS build
# A C compiler for the native module (native/*.c: line scanner and settler); Node's headers come with the image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc=4:12.2.0-3 libc6-dev=2.36-9* \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
# `prepare` would run tsc before the sources are here; the build is the next step.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY config ./config
COPY scoring ./scoring
COPY domain ./domain
COPY worker ./worker
COPY native ./native
COPY scripts/build-native.mjs ./scripts/
RUN npm run build
# build-native.mjs skips the module when it cannot compile it (scoring then runs in JS, about half as
# fast): in the image that is a build error, and so is a module this Node cannot load.
RUN node -e "const m = require('/src/dist/native/scan-settle.node'); for (const f of ['scan', 'settle', 'keys', 'spans']) if (typeof m[f] !== 'function') throw new Error('dist/native/scan-settle.node lacks ' + f);"

FROM node:20.20.2-bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini=0.19.0-1+b3 \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/reviewloop \
 && chown node:node /var/lib/reviewloop
ENV NODE_ENV=production \
    REVIEWLOOP_HEALTH_PORT=8080
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` runs tsc, which is a dev dependency; dist/ comes from the build stage.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist ./dist
COPY bin ./bin
# Relative paths in the config (a local root, stats.duckdb) land in a folder the node user owns.
WORKDIR /var/lib/reviewloop
USER node
EXPOSE 8080
# PORT, when the platform sets it, is where the ops server listens (it overrides worker.httpPort).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || process.env.REVIEWLOOP_HEALTH_PORT) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/bin/reviewloop.js"]
CMD ["run", "-c", "/config/reviewloop.yaml"]
