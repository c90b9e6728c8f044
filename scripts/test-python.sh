#!/usr/bin/env bash
# Runs the Python client's tests (clients/python) against the real sidecar;
# needs python3 >= 3.9 and a built sidecar (npm run build). The venv is
# clients/python/.venv (scripts/python-venv.sh). PYTEST_JUNIT names the JUnit
# XML report; extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/main.js ] || { echo "test-python: dist/ is missing: run 'npm run build' first" >&2; exit 1; }
python=$(scripts/python-venv.sh)
junit="$(realpath -m "${PYTEST_JUNIT:-clients/python/.pytest-results.xml}")"
cd clients/python
exec "$python" -m pytest --junitxml="$junit" "$@"
