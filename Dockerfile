# Rampart container image: `docker build -t rampart .` then
#   docker run --read-only --tmpfs /tmp -v $PWD/rampart.yaml:/etc/rampart/rampart.yaml:ro -p 8443:8443 rampart
# Build stage: install everything, compile dist/, keep only production dependencies.
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY src ./src
COPY schema ./schema
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev --ignore-scripts

# Runtime stage: no compiler, no npm cache, a non-root user, nothing writable but what is mounted.
FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /opt/rampart
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/bin ./bin
COPY --from=build /src/schema ./schema
USER 10001:10001
EXPOSE 8443 8081
# The admin listener's readiness: 200 once listening with every backend reachable.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8081/readyz').then((r)=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "/opt/rampart/bin/rampart.js"]
CMD ["start", "-c", "/etc/rampart/rampart.yaml"]
