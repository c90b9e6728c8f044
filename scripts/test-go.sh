#!/usr/bin/env bash
# Runs the Go client's tests (clients/go) against the real sidecar; needs Go
# and a built sidecar (npm run build). With GO_TEST_JSON set, go test's -json
# event stream is written to that file and a summary is printed instead.
# Extra arguments go to go test.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/main.js ] || { echo "test-go: dist/ is missing: run 'npm run build' first" >&2; exit 1; }
json_out="${GO_TEST_JSON:+$(realpath -m "$GO_TEST_JSON")}"
cd clients/go

# -count=1: the tests drive an outside process (the sidecar), which go test's
# cache cannot see change.
if [ -z "$json_out" ]; then
  exec go test -count=1 "$@" ./...
fi
status=0
go test -count=1 -json "$@" ./... >"$json_out" || status=$?
node -e '
  const events = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
  const tests = events.filter((e) => e.Test && (e.Action === "pass" || e.Action === "fail"));
  // Show what failed: each failed test, and packages that failed outside any test (build errors, TestMain).
  for (const f of events.filter((e) => e.Action === "fail")) {
    const own = (e) => e.Action === "output" && e.Package === f.Package && (f.Test ? e.Test === f.Test : !e.Test);
    process.stdout.write(events.filter(own).map((e) => e.Output).join(""));
  }
  const count = (a) => tests.filter((e) => e.Action === a).length;
  console.log(`go test: ${count("pass")} passed, ${count("fail")} failed`);
' "$json_out"
exit "$status"
