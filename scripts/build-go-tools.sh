#!/usr/bin/env bash
# Builds the Go programs the real-client tests drive (test/real/oci-conformance.test.ts,
# test/real/go-clients.test.ts) into tools/ (git-ignored), from the Go module proxy:
#   tools/conformance.test  the OCI distribution-spec conformance suite (`go test -c`)
#   tools/crane             go-containerregistry's crane
#   tools/regctl            regclient's regctl
# Versions are pinned in scripts/go-tools/go.mod (`tool` lines) and go.sum. Go caches
# builds and modules in GOCACHE and GOMODCACHE (Go's defaults under $HOME unless set),
# so a second run takes seconds; the first downloads and compiles for about a minute.
set -euo pipefail
cd "$(dirname "$0")/.."

GO="$(command -v go || true)"
if [ -z "$GO" ] && [ -x /usr/local/go/bin/go ]; then GO=/usr/local/go/bin/go; fi
if [ -z "$GO" ]; then
  echo "build-go-tools: no Go toolchain (go on PATH or /usr/local/go/bin/go)" >&2
  exit 1
fi
# The machine's Go (1.26) is the one go.mod asks for: never fetch another toolchain.
export GOTOOLCHAIN=local
export GOFLAGS="-mod=readonly"

mkdir -p tools
out="$PWD/tools"
cd scripts/go-tools
start=$(date +%s)
"$GO" test -c -o "$out/conformance.test" github.com/opencontainers/distribution-spec/conformance
"$GO" build -o "$out/crane" github.com/google/go-containerregistry/cmd/crane
"$GO" build -o "$out/regctl" github.com/regclient/regclient/cmd/regctl
echo "build-go-tools: conformance.test, crane, regctl in tools/ ($(( $(date +%s) - start )) s, $("$GO" version | cut -d' ' -f3))"
