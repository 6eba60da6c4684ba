#!/usr/bin/env bash
# Builds k6 with the Go toolchain into the project-local, git-ignored tools/bin
# (used by `pullstorm run --engine k6` and the k6 tests). Reused when present.
#   scripts/install-k6.sh            # build k6 v1.8.1 unless tools/bin/k6 already is that version
#   K6_VERSION=v1.8.1 scripts/install-k6.sh
set -euo pipefail
cd "$(dirname "$0")/.."

K6_VERSION="${K6_VERSION:-v1.8.1}"
BIN_DIR="$PWD/tools/bin"
K6="$BIN_DIR/k6"

if [ -x "$K6" ] && "$K6" version 2>/dev/null | grep -q "k6 ${K6_VERSION}"; then
  echo "k6 ${K6_VERSION} already in ${K6}"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "install-k6: the Go toolchain (go) is required to build k6 ${K6_VERSION}" >&2
  exit 1
fi

mkdir -p "$BIN_DIR"
echo "building k6 ${K6_VERSION} into ${BIN_DIR} (takes a few minutes)..."
GOBIN="$BIN_DIR" go install "go.k6.io/k6@${K6_VERSION}"
"$K6" version
