# pullstorm as a container, for hosts with a Docker engine (see docker-compose.yml):
# the fake registry by default, or any pullstorm command (the compose runner runs a scenario).
# The image holds the published package, not the source tree: the first stage packs it
# (`npm pack`, whose prepack compiles dist/ with tsc), the second installs that tarball.
# BASE is any Node 24 image with npm: node:24-slim by default; CI builds its own from
# Debian packages and npm (scripts/containers.sh) because it cannot pull from Docker Hub.
ARG BASE=node:24-slim

FROM ${BASE} AS pack
WORKDIR /src
COPY package.json package-lock.json ./
# Every dependency, typescript included, without install scripts: the `node` devDependency
# (the repository's own Node for npm scripts) then links no binary, and the image's Node (24)
# runs the build.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN mkdir -p /pack && npm pack --pack-destination /pack && mv /pack/pullstorm-*.tgz /pack/pullstorm.tgz

FROM ${BASE}
WORKDIR /app
COPY --from=pack /pack/pullstorm.tgz /tmp/pullstorm.tgz
# The tarball's files, then its production dependencies at the versions package-lock.json pins.
COPY package-lock.json ./
RUN tar -xzf /tmp/pullstorm.tgz --strip-components=1 -C /app && rm /tmp/pullstorm.tgz \
  && npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
# Scenario files the compose runner plays (data, not part of the package).
COPY docs/examples ./docs/examples
EXPOSE 5000
# Smaller young-generation semi-spaces: under a flood of 40,000 distinct clients the
# registry peaks at 220 MiB RSS with them, 311-345 MiB without (docs/benchmarks.md,
# "A flood of distinct clients"); the request rate is the same.
ENV NODE_OPTIONS=--max-semi-space-size=16
# node is PID 1: `registry serve` (like `run`) handles SIGTERM and SIGINT itself, so
# `docker stop` and Ctrl-C stop it at once (PID 1 gets no default signal action).
ENTRYPOINT ["node", "bin/pullstorm.js"]
CMD ["registry", "serve", "--host", "0.0.0.0", "--port", "5000"]
