"""The example bridge loop runs as documented, against a real sidecar."""

from __future__ import annotations

import pathlib
import subprocess
import sys

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "bridge_loop.py"


def test_bridge_loop_resumes_the_call_on_another_pod(sidecar, new_id):
    call_id = new_id()
    run = subprocess.run(
        [sys.executable, str(EXAMPLE), "--address", sidecar.address, "--call-id", call_id],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        f"pod-a: created {call_id} with 0 history items and 0 audio bytes",
        "pod-a: platform socket dropped; session PAUSED",
        f"pod-b: resumed (resume #1, epoch 2) {call_id} with 4 history items and 6400 audio bytes",
        f"pod-a: stopped writing {call_id}: SESSION_FENCED (now owned by pod-b)",
        "pod-a: late write refused: SESSION_FENCED",
        "pod-b: call ended after turn 4; status SESSION_STATUS_ENDED",
        "pod-c: reconnect refused: FAILED_PRECONDITION SESSION_ENDED (Session already ended)",
    ]


def test_the_asyncio_bridge_loop_resumes_the_call_on_another_pod(sidecar, new_id):
    call_id = new_id()
    run = subprocess.run(
        [sys.executable, str(EXAMPLE.with_name("bridge_loop_aio.py")), "--address", sidecar.address, "--call-id", call_id],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        f"pod-a: created {call_id} with 0 history items and 0 audio bytes",
        "pod-a: platform socket dropped; session PAUSED (20 other calls streamed meanwhile)",
        f"pod-b: resumed (resume #1, epoch 2) {call_id} with 4 history items and 6400 audio bytes",
        f"pod-a: stopped writing {call_id}: SESSION_FENCED (now owned by pod-b)",
        "pod-a: late write refused: SESSION_FENCED",
        "pod-b: call ended after turn 4; status SESSION_STATUS_ENDED",
        "pod-c: reconnect refused: FAILED_PRECONDITION SESSION_ENDED (Session already ended)",
    ]
    assert run.stderr == ""
