#!/usr/bin/env bash
# The build steps of deploy/Dockerfile, as one script the Dockerfile runs and
# CI runs too (test/e2e/image-build.test.ts), so the image's build cannot rot
# unseen on machines without a container engine. It writes the files the
# image adds under a root directory: ROOT/app (the sidecar: its production
# node_modules, dist, bin and package.json), ROOT/data (the database's
# folder) and ROOT/usr/local/bin/grpc_health_probe (for the exec probes).
#
#   deploy/build-image-root.sh sidecar ROOT   needs Node.js 20, npm, python3, make and g++
#   deploy/build-image-root.sh probe ROOT     needs Go
#   deploy/build-image-root.sh all ROOT       both (what CI runs)
#
# Run from the build context, the repository root. The Dockerfile runs each
# step in the stage that has its toolchain and copies both roots into the
# final image, whose ENV, WORKDIR, USER, ENTRYPOINT and CMD say how it runs.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 sidecar|probe|all ROOT" >&2; exit 2; }
step=$1
root=$(realpath -m "$2")

# The version scripts/ensure-test-tools.sh installs for the tests.
GRPC_HEALTH_PROBE=github.com/grpc-ecosystem/grpc-health-probe@v0.4.63

sidecar() {
  local build
  build=$(mktemp -d)
  cp package.json package-lock.json tsconfig.json tsconfig.build.json tsconfig.types.json "$build/"
  cp -R src bin "$build/"
  (
    cd "$build"
    # --ignore-scripts: the package's own prepare (a build) waits for the
    # sources; better-sqlite3's native module is then compiled on its own.
    npm ci --ignore-scripts --no-audit --no-fund
    npm rebuild better-sqlite3
    npm run build
    npm prune --omit=dev --ignore-scripts --no-audit --no-fund
  )
  mkdir -p "$root/app" "$root/data"
  cp -R "$build/node_modules" "$build/dist" "$build/bin" "$build/package.json" "$root/app/"
  rm -rf "$build"
}

probe() {
  mkdir -p "$root/usr/local/bin"
  # Static, so it runs in the slim Node image, which has no Go runtime.
  CGO_ENABLED=0 GOBIN="$root/usr/local/bin" go install "$GRPC_HEALTH_PROBE"
  mv "$root/usr/local/bin/grpc-health-probe" "$root/usr/local/bin/grpc_health_probe"
}

case "$step" in
  sidecar) sidecar ;;
  probe) probe ;;
  all) sidecar && probe ;;
  *) echo "$0: unknown step $step (sidecar, probe or all)" >&2; exit 2 ;;
esac
