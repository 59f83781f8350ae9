# tollgate's image. Build: `docker build -t tollgate:0.1.0 .`
# Run: mount a config at /etc/tollgate/config.yml; mount its DIRECTORY (not the file),
# so that edits and ConfigMap updates reach the running process (see README, Deploy):
#   docker run -v "$PWD/tollgate-config:/etc/tollgate:ro" -p 8080:8080 -p 9464:9464 tollgate:0.1.0
# The image ships no config: one written for the host it runs on is the only right one.
# Base: Node 24, an LTS line; package.json asks for Node >= 20.

# --- build: every dependency, TypeScript compiled to dist/ -------------------------
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` runs tsc, and src/ is not here yet.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# --- runtime: production dependencies and dist/, as a non-root user ------------------
FROM node:24-bookworm-slim AS runtime
# tini as PID 1 forwards SIGTERM to node and reaps zombies; slim images have no curl,
# so the health check below uses Node's own fetch.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would run tsc, a dev dependency; dist/ comes built.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
# The gRPC service loads its .proto files at run time from ./proto (tsc copies no .proto).
COPY proto ./proto
# The image's `node` user, numeric so that Kubernetes' runAsNonRoot can verify it. The
# app's files stay root's: the process can read them, never change them.
USER 1000:1000
# listen.proxy and listen.admin of a config that keeps the default ports. listen.grpc
# (Envoy's rate limit service) is optional and has no default port: publish it yourself.
EXPOSE 8080 9464
# /health/live on the admin port: it fails only when the event loop is stuck, never
# because Redis or the app is down. With another listen.admin, override the check
# (compose: `healthcheck.test`; Kubernetes ignores HEALTHCHECK and uses its probes).
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9464/health/live').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM (docker stop, Kubernetes) drains: readiness 503, drain_delay, in-flight
# requests finish, exit 0. Give the container more than drain_delay + grace to stop.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--"]
# Exec form, node itself: `npm start` would sit between tini and node, and rebuild.
CMD ["node", "bin/tollgate.js", "--config", "/etc/tollgate/config.yml"]
