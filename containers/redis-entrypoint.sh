#!/bin/sh
# As the official image does: `redis-server ARGS` without a config file runs with
# protected mode off (the container's network is the boundary).
set -e
if [ "$1" = "redis-server" ]; then
  shift
  exec redis-server --protected-mode no "$@"
fi
exec "$@"
