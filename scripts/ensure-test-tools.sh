#!/usr/bin/env bash
# Installs the outside tools the test suite drives when they are missing, so
# `npm test` passes on a fresh machine.
#   grpcurl: the README's operator recipes are run against a real sidecar;
#     built with go install into .tools/bin.
#   grpc-health-probe: the Kubernetes manifest's exec probes are run against a
#     real sidecar (plaintext and TLS); built with go install into .tools/bin.
#   kustomize: renders the Kubernetes overlays of deploy/kubernetes for their
#     validation; built with go install into .tools/bin.
#   kubernetes-validate: validates the rendered manifests against Kubernetes'
#     own schemas, which it ships (no download at run time); pip installs it
#     into a venv of its own in .tools/kubernetes-validate.
#   redis-server: the Redis backend's conformance suite and end-to-end tests
#     start a real one on a free loopback port (test/support/redis-server.ts);
#     the same binary runs the Sentinels (redis-server --sentinel) of
#     test/support/redis-sentinel.ts, so no redis-sentinel package is needed.
#   redis-cli (Debian package redis-tools): creates and reshards the test
#     Redis Cluster (redis-cli --cluster, test/support/redis-cluster.ts);
#   openssl: makes the certificates of the TLS tests (the sidecar's listener, Redis).
#   prometheus: the metrics test starts a real Prometheus scraping a sidecar,
#     and runs promtool (same package) on the scrape and the alert rules.
#   These are installed with apt-get, as root (or through sudo).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tools/bin

if ! command -v grpcurl >/dev/null 2>&1 && [ ! -x .tools/bin/grpcurl ]; then
  command -v go >/dev/null 2>&1 || { echo "ensure-test-tools: grpcurl is missing and Go is not installed to build it" >&2; exit 1; }
  echo "ensure-test-tools: installing grpcurl with go install" >&2
  GOBIN="$PWD/.tools/bin" go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4
fi

if ! command -v grpc-health-probe >/dev/null 2>&1 && [ ! -x .tools/bin/grpc-health-probe ]; then
  command -v go >/dev/null 2>&1 || { echo "ensure-test-tools: grpc-health-probe is missing and Go is not installed to build it" >&2; exit 1; }
  echo "ensure-test-tools: installing grpc-health-probe with go install" >&2
  # The version deploy/Dockerfile puts in the image.
  GOBIN="$PWD/.tools/bin" go install github.com/grpc-ecosystem/grpc-health-probe@v0.4.63
fi

if ! command -v kustomize >/dev/null 2>&1 && [ ! -x .tools/bin/kustomize ]; then
  command -v go >/dev/null 2>&1 || { echo "ensure-test-tools: kustomize is missing and Go is not installed to build it" >&2; exit 1; }
  echo "ensure-test-tools: installing kustomize with go install" >&2
  GOBIN="$PWD/.tools/bin" go install sigs.k8s.io/kustomize/kustomize/v5@v5.7.1
fi

if ! command -v kubernetes-validate >/dev/null 2>&1 && [ ! -x .tools/bin/kubernetes-validate ]; then
  echo "ensure-test-tools: installing kubernetes-validate with pip" >&2
  # Its version names the newest Kubernetes whose schemas it ships; the test
  # validates against that minor and the two before it.
  python3 -m venv .tools/kubernetes-validate
  .tools/kubernetes-validate/bin/pip install --quiet --disable-pip-version-check kubernetes-validate==1.37.0
  ln -sf ../kubernetes-validate/bin/kubernetes-validate .tools/bin/kubernetes-validate
fi

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
{ command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; } || missing+=(prometheus)
if [ "${#missing[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null 2>&1 || { echo "ensure-test-tools: ${missing[*]} missing and apt-get is not available to install them" >&2; exit 1; }
  as_root=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "ensure-test-tools: installing ${missing[*]} needs root (or sudo)" >&2; exit 1; }
    as_root=(sudo)
  fi
  echo "ensure-test-tools: installing ${missing[*]} with apt-get" >&2
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
