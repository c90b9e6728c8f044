"""UpdateStream's batching against the real sidecar: StreamUpdateBatches requests within
the Batching limits, StreamUpdates when batching is off or the sidecar lacks it."""

from __future__ import annotations

from typing import List, Optional, Tuple

import pytest

import sessionstore_client as ss

from call_recorder import STREAM_UPDATE_BATCHES, STREAM_UPDATES, recording_stub
from helpers import expect_exactly, write_round
from sidecar import Sidecar

pb = ss.pb
SESSIONS, ROUNDS = 40, 25


def sent_order(updates: List[pb.SessionUpdate]) -> List[Tuple[str, int]]:
    return [(u.conversation_id, u.seq) for u in updates]


@pytest.mark.parametrize(
    "batching",
    [ss.Batching(), ss.Batching(linger_ms=0), ss.Batching(max_updates=7), ss.Batching(max_bytes=4000), None],
    ids=["defaults", "no-linger", "max-updates-7", "max-bytes-4000", "off"],
)
def test_interleaved_sessions_share_one_stream(sidecar: Sidecar, new_id, batching: Optional[ss.Batching]):
    with recording_stub(sidecar.address) as (stub, recorder), ss.UpdateStream(stub, batching=batching) as stream:
        ids = [new_id() for _ in range(SESSIONS)]
        for cid in ids:
            stream.track(stub.CreateSession(pb.CreateSessionRequest(session=pb.Session(conversation_id=cid))).session)
        written, futures, settled = [], {cid: [] for cid in ids}, []
        for n in range(1, ROUNDS + 1):
            for cid in ids:
                future = write_round(stream, cid, n)
                future.add_done_callback(lambda f: settled.append((f.result().conversation_id, f.result().seq)))
                futures[cid].append(future)
                written.append((cid, n))
        assert stream.flush(30)

        for cid in ids:
            acks = [f.result() for f in futures[cid]]
            assert [(a.conversation_id, a.seq, a.applied) for a in acks] == [(cid, n, True) for n in range(1, ROUNDS + 1)]
            assert expect_exactly(stub, cid, ROUNDS).etag == acks[-1].etag
        assert (stream.stats.acked, stream.stats.duplicates, stream.stats.reconnects) == (SESSIONS * ROUNDS, 0, 0)

        (call,) = recorder.calls
        assert sent_order(call.updates()) == written  # each update once, in write order
        if batching is None:
            assert call.method == STREAM_UPDATES and len(call.requests) == len(written)
            return
        assert call.method == STREAM_UPDATE_BATCHES
        # The batch stream acks in the order the updates were sent, across sessions and requests.
        assert settled == written
        sizes = [len(request.updates) for request in call.requests]
        encoded = [sum(u.ByteSize() for u in request.updates) for request in call.requests]
        assert max(sizes) <= batching.max_updates
        assert all(size <= batching.max_bytes or count == 1 for size, count in zip(encoded, sizes))
        if batching == ss.Batching():
            # Writes from a loop come faster than 2 ms apart: they share requests.
            assert len(call.requests) <= len(written) / 10
        if batching.max_updates == 7:
            assert max(sizes) == 7
        if batching.max_bytes == 4000:
            assert max(sizes) == 2  # a round is about 1.7 kB


def test_a_sidecar_without_batches_gets_the_same_updates_on_stream_updates(own_sidecar: Sidecar):
    # Renamed, the batch call reaches the real sidecar as a method it does not have, as
    # StreamUpdateBatches would reach an older sidecar: it answers UNIMPLEMENTED.
    missing = {STREAM_UPDATE_BATCHES: STREAM_UPDATE_BATCHES + "Missing"}
    with recording_stub(own_sidecar.address, rename=missing) as (stub, recorder), ss.UpdateStream(stub) as stream:
        ids = [f"old-{i}" for i in range(3)]
        for cid in ids:
            stream.track(stub.CreateSession(pb.CreateSessionRequest(session=pb.Session(conversation_id=cid))).session)
        futures = [write_round(stream, cid, n) for n in range(1, 21) for cid in ids]
        assert stream.flush(30)
        assert all(f.result().applied for f in futures)
        assert recorder.methods == [STREAM_UPDATE_BATCHES, STREAM_UPDATES]
        assert stream.stats.acked == 60

        # For good: the stream a restart makes it open again is StreamUpdates too.
        own_sidecar.restart()
        later = [write_round(stream, cid, n) for n in range(21, 31) for cid in ids]
        assert stream.flush(30)
        assert all(f.result().applied for f in later)
        first, *others = recorder.methods
        assert first == STREAM_UPDATE_BATCHES and len(others) >= 2 and set(others) == {STREAM_UPDATES}
        for cid in ids:
            expect_exactly(stub, cid, 30)
