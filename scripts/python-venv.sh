#!/usr/bin/env bash
# Makes clients/python/.venv: a venv with the Python client installed (editable,
# so source edits need no reinstall) and pytest. Idempotent and quick when
# nothing changed: pip runs again only when pyproject.toml did. Prints the
# venv's python. Used by scripts/test-python.sh and test/e2e/interop.test.ts.
set -euo pipefail
cd "$(dirname "$0")/../clients/python"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv >&2
fi
if ! cmp -s pyproject.toml .venv/installed-pyproject.toml; then
  .venv/bin/pip install --quiet --disable-pip-version-check -e '.[test]' >&2
  cp pyproject.toml .venv/installed-pyproject.toml
fi
echo "$PWD/.venv/bin/python"
