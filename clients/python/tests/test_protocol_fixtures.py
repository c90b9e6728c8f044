"""The shared update-stream protocol fixtures (test/fixtures/update-stream-protocol.json), run
against a real sidecar by both Python helpers, batched and single, as TypeScript and Go run them."""

from __future__ import annotations

import asyncio

import pytest

from protocol_fixtures import FIXTURES, HELPERS, run_fixture


@pytest.mark.parametrize("helper", sorted(HELPERS))
@pytest.mark.parametrize("mode", FIXTURES["modes"])
@pytest.mark.parametrize("fixture", FIXTURES["fixtures"], ids=[f["name"] for f in FIXTURES["fixtures"]])
def test_protocol_fixture(fixture, mode, helper):
    asyncio.run(run_fixture(fixture, mode, HELPERS[helper]()))


def test_every_fixture_runs_in_every_mode():
    # The fixtures file is shared: a mode or op this runner does not know must fail here, not pass unnoticed.
    assert FIXTURES["modes"] == ["batched", "single"]
    ops = {step["op"] for fixture in FIXTURES["fixtures"] for step in fixture["steps"]}
    assert ops <= {"create", "resume", "track", "write", "await", "end", "stop", "start", "stops", "check"}
