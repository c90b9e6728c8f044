"""UpdateStream against the real sidecar: seq, acks, replay across sidecar restarts."""

from __future__ import annotations

import signal
import time

import pytest

import sessionstore_client as ss

from call_recorder import STREAM_UPDATE_BATCHES, STREAM_UPDATES, recording_stub
from helpers import expect_exactly, write_round
from sidecar import Sidecar

pb = ss.pb


def test_interleaved_sessions_get_their_acks_in_order(stub, new_id):
    ids = [new_id() for _ in range(5)]
    with ss.UpdateStream(stub) as stream:
        for cid in ids:
            stream.track(stub.CreateSession(pb.CreateSessionRequest(session=pb.Session(conversation_id=cid))).session)
        futures = {cid: [write_round(stream, cid, n) for n in range(1, 11)] for cid in ids}
        assert stream.flush(30)
        for cid in ids:
            acks = [f.result() for f in futures[cid]]
            assert [(a.conversation_id, a.seq, a.applied) for a in acks] == [(cid, n, True) for n in range(1, 11)]
            assert expect_exactly(stub, cid, 10).etag == acks[-1].etag
        assert (stream.stats.acked, stream.stats.duplicates, stream.stats.reconnects) == (50, 0, 0)


def test_updates_written_while_the_sidecar_is_down_are_sent_when_it_is_back(own_sidecar: Sidecar):
    channel = ss.open_channel(own_sidecar.address)
    stub = ss.SessionStoreServiceStub(channel)
    disconnects = []
    with ss.UpdateStream(stub, on_disconnect=lambda code, details, unacked: disconnects.append(code)) as stream:
        stream.track(stub.CreateSession(pb.CreateSessionRequest(session=pb.Session(conversation_id="down-1"))).session)
        for n in range(1, 6):
            write_round(stream, "down-1", n)
        assert stream.flush(10)

        own_sidecar.stop()
        later = [write_round(stream, "down-1", n) for n in range(6, 11)]
        time.sleep(0.5)  # the stream is retrying against a closed port
        assert stream.unacked == 5
        own_sidecar.start()
        assert stream.flush(30), "the queued updates were not acknowledged after the restart"
        assert [f.result().seq for f in later] == [6, 7, 8, 9, 10]
        assert stream.stats.reconnects >= 1 and stream.stats.replayed >= 5
    assert disconnects, "on_disconnect was not called"
    expect_exactly(stub, "down-1", 10)
    channel.close()


@pytest.mark.parametrize("batching", [ss.Batching(), None], ids=["batches", "single"])
def test_a_crash_mid_stream_loses_nothing_and_applies_nothing_twice(own_sidecar: Sidecar, batching):
    ids, rounds = [f"crash-{i}" for i in range(10)], 60
    with recording_stub(own_sidecar.address) as (stub, recorder), ss.UpdateStream(stub, batching=batching) as stream:
        for cid in ids:
            stream.track(stub.CreateSession(pb.CreateSessionRequest(session=pb.Session(conversation_id=cid))).session)
        futures = {cid: [] for cid in ids}

        def write_rounds(rounds_: range) -> None:
            for n in rounds_:
                for cid in ids:
                    futures[cid].append(write_round(stream, cid, n))

        write_rounds(range(1, rounds - 4))
        futures[ids[0]][5].result(10)  # some are durable, the rest in flight
        own_sidecar.stop(signal.SIGKILL)
        # The last rounds are written while it is down, so a replay on a new stream is certain
        # even where a busy machine had every earlier write acked before the kill.
        write_rounds(range(rounds - 4, rounds + 1))
        own_sidecar.start()
        assert stream.flush(30)
        for cid in ids:
            # Updates applied before the crash but never acked come back as duplicates.
            assert [f.result().seq for f in futures[cid]] == list(range(1, rounds + 1))
        stats = stream.stats
        assert stats.acked == len(ids) * rounds and stats.reconnects >= 1 and stats.replayed >= 1
        # The replay goes on the same RPC.
        expected = STREAM_UPDATE_BATCHES if batching else STREAM_UPDATES
        assert len(recorder.methods) >= 2 and set(recorder.methods) == {expected}
        for cid in ids:
            expect_exactly(stub, cid, rounds)


def test_a_replayed_seq_is_acknowledged_without_being_applied_again(stub, new_id):
    cid = new_id()
    created = stub.CreateSession(pb.CreateSessionRequest(session=pb.Session(conversation_id=cid))).session
    with ss.UpdateStream(stub) as first:
        first.track(created)
        for n in range(1, 4):
            write_round(first, cid, n)
    # A bridge that lost its acks starts again from the Session it had: seqs 1-3 again.
    with ss.UpdateStream(stub) as second:
        second.track(created)
        again = [write_round(second, cid, n).result(10) for n in range(1, 5)]
        assert [(a.seq, a.applied) for a in again] == [(1, False), (2, False), (3, False), (4, True)]
        assert second.stats.duplicates == 3
    expect_exactly(stub, cid, 4)


def test_a_refused_update_fails_its_future_and_the_stream_goes_on(stub, new_id):
    cid = new_id()
    with ss.UpdateStream(stub) as stream:
        stream.track(stub.CreateSession(pb.CreateSessionRequest(session=pb.Session(conversation_id=cid))).session)
        bad = stream.write(cid, etag="not-the-etag", append_history=[pb.ConversationItem(item_id="x")])
        good = write_round(stream, cid, 1)
        assert bad.exception(10).reason == "ETAG_MISMATCH"
        assert good.result(10).applied
        assert stream.stats.refused == 1
