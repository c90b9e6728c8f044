"""realtime_restore against the fixtures the TypeScript and Go clients' tests read too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from google.protobuf import json_format

import sessionstore_client as ss

FIXTURES = json.loads((Path(__file__).parents[3] / "test" / "fixtures" / "realtime-restore.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", FIXTURES["cases"], ids=[c["name"] for c in FIXTURES["cases"]])
def test_fixture(case):
    session = json_format.ParseDict(case["session"], ss.pb.Session())
    budget = case.get("budget", {})
    restore = ss.realtime_restore(session, ss.RestoreBudget(max_items=budget.get("maxItems"), max_chars=budget.get("maxChars")))
    # Through JSON, as a bridge sends them: what the fixture holds is the wire form.
    assert json.loads(json.dumps(restore.events)) == case["expected"]["events"]
    assert [call.call_id for call in restore.unanswered_calls] == case["expected"]["unansweredCallIds"]
    assert restore.dropped_items == case["expected"]["droppedItems"]


def test_numbers_in_the_stored_session_stay_integers_on_the_wire():
    """Struct holds every number as a double; the API's integer fields must not get 4096.0."""
    stored = {"max_output_tokens": 4096, "audio": {"output": {"speed": 1.25}}}
    session = json_format.ParseDict({"metadata": {"realtime_session": stored}}, ss.pb.Session())
    (update,) = ss.realtime_restore(session).events
    assert json.dumps(update["session"], sort_keys=True) == '{"audio": {"output": {"speed": 1.25}}, "max_output_tokens": 4096}'
