#!/usr/bin/env bash
# Installs the outside tools the test suite drives, into .tools/bin, when they
# are not already on PATH, so `npm test` passes on a fresh machine.
#   grpcurl: the README's operator recipes are run against a real sidecar.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tools/bin

if ! command -v grpcurl >/dev/null 2>&1 && [ ! -x .tools/bin/grpcurl ]; then
  command -v go >/dev/null 2>&1 || { echo "ensure-test-tools: grpcurl is missing and Go is not installed to build it" >&2; exit 1; }
  echo "ensure-test-tools: installing grpcurl with go install" >&2
  GOBIN="$PWD/.tools/bin" go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4
fi
