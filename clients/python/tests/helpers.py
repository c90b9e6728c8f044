"""Assertions and writes shared by the tests."""

from __future__ import annotations

import grpc
import pytest

import sessionstore_client as ss

pb = ss.pb


def expect_error(call, code: grpc.StatusCode, reason: str) -> grpc.RpcError:
    """Runs a call that must fail with this code and ErrorInfo reason; returns the error."""
    with pytest.raises(grpc.RpcError) as raised:
        call()
    err = raised.value
    info = ss.error_info(err)
    assert (err.code(), info.reason if info else None, info.domain if info else None) == (code, reason, ss.DOMAIN)
    return err


def frame(n: int) -> bytes:
    """100 ms of 8 kHz 16-bit audio, different for every n, so a lost or doubled frame shows."""
    return bytes((n * 31 + i) % 256 for i in range(1600))


def round_update(n: int) -> dict:
    """The keyword arguments of round n's write: turn n, its history item and its audio frame."""
    return dict(
        update_mask=["current_turn"],
        session=pb.Session(current_turn=n),
        append_history=[pb.ConversationItem(item_id=f"h{n}", role="user", text=f"turn {n}")],
        append_audio=[frame(n)],
    )


def write_round(stream, cid: str, n: int):
    """Round n's write: a Future from the threaded UpdateStream, a coroutine from the asyncio one."""
    return stream.write(cid, **round_update(n))


def expect_exactly(stub, cid: str, rounds: int) -> pb.Session:
    """The stored session holds every round once, in order."""
    session = stub.GetSession(pb.GetSessionRequest(conversation_id=cid)).session
    assert [h.item_id for h in session.conversation_history] == [f"h{n}" for n in range(1, rounds + 1)]
    assert [c.data for c in session.audio_buffer] == [frame(n) for n in range(1, rounds + 1)]
    assert (session.last_seq, session.current_turn) == (rounds, rounds)
    return session
