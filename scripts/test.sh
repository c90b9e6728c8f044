#!/usr/bin/env bash
# The whole test suite, as `npm test` runs it: the TypeScript suites (vitest),
# then the Python and Go clients' suites, all against real sidecar processes.
# Arguments go to vitest. PYTEST_JUNIT and GO_TEST_JSON, when set, name report
# files (.ci/run reads them to count). Every suite runs even if one fails.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-test-tools.sh || exit 1
npm run build || exit 1

status=0
npx vitest run "$@" || status=1
scripts/test-python.sh -q || status=1
scripts/test-go.sh || status=1
exit "$status"
