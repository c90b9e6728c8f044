"""The asyncio UpdateStream batches, falls back and holds as the threaded one does: StreamUpdateBatches
within the Batching limits, StreamUpdates for a sidecar without it, OVERLOADED updates resent in order."""

from __future__ import annotations

import asyncio
from typing import Dict, List, Optional, Tuple

import grpc.aio
import pytest

import sessionstore_client as ss
import sessionstore_client.aio as ssa

from call_recorder import STREAM_UPDATE_BATCHES, STREAM_UPDATES, AioCallRecorder
from helpers import expect_exactly, round_update
from sidecar import Sidecar

pb = ss.pb
SESSIONS, ROUNDS = 40, 25


async def _stream_all(address: str, ids: List[str], rounds: int, batching: Optional[ss.Batching], recorder: AioCallRecorder):
    """Writes `rounds` rounds of every session through a recorded channel; returns acks per session and stats."""
    async with grpc.aio.insecure_channel(address, interceptors=[recorder]) as channel:
        stub = ssa.SessionStoreServiceStub(channel)
        async with ssa.UpdateStream(stub, batching=batching) as stream:
            for cid in ids:
                stream.track((await stub.CreateSession(pb.CreateSessionRequest(session=pb.Session(conversation_id=cid)))).session)
            futures: Dict[str, List[asyncio.Future]] = {cid: [] for cid in ids}
            for n in range(1, rounds + 1):
                for cid in ids:
                    futures[cid].append(await stream.send(cid, **round_update(n)))
            assert await stream.flush(30)
            return {cid: [f.result() for f in fs] for cid, fs in futures.items()}, stream.stats


@pytest.mark.parametrize(
    "batching",
    [ss.Batching(), ss.Batching(linger_ms=0), ss.Batching(max_updates=7), ss.Batching(max_bytes=4000), None],
    ids=["defaults", "no-linger", "max-updates-7", "max-bytes-4000", "off"],
)
def test_interleaved_sessions_share_one_stream_within_the_limits(sidecar: Sidecar, stub, new_id, batching):
    ids = [new_id() for _ in range(SESSIONS)]
    recorder = AioCallRecorder()
    acks, stats = asyncio.run(_stream_all(sidecar.address, ids, ROUNDS, batching, recorder))
    for cid in ids:
        assert [(a.conversation_id, a.seq, a.applied) for a in acks[cid]] == [(cid, n, True) for n in range(1, ROUNDS + 1)]
        assert expect_exactly(stub, cid, ROUNDS).etag == acks[cid][-1].etag
    assert (stats.acked, stats.duplicates, stats.reconnects) == (SESSIONS * ROUNDS, 0, 0)

    (call,) = recorder.calls
    assert [(u.conversation_id, u.seq) for u in call.updates()] == [(cid, n) for n in range(1, ROUNDS + 1) for cid in ids]
    if batching is None:
        assert call.method == STREAM_UPDATES and len(call.requests) == SESSIONS * ROUNDS
        return
    assert call.method == STREAM_UPDATE_BATCHES
    sizes = [len(request.updates) for request in call.requests]
    encoded = [sum(u.ByteSize() for u in request.updates) for request in call.requests]
    assert max(sizes) <= batching.max_updates
    assert all(size <= batching.max_bytes or count == 1 for size, count in zip(encoded, sizes))
    if batching == ss.Batching():
        # The writes of one loop turn come well within 2 ms of each other: they share requests.
        assert len(call.requests) <= SESSIONS * ROUNDS / 10
    if batching.max_updates == 7:
        assert max(sizes) == 7
    if batching.max_bytes == 4000:
        assert max(sizes) == 2  # a round is about 1.7 kB


def test_a_sidecar_without_batches_gets_the_same_updates_on_stream_updates(own_sidecar: Sidecar):
    # Renamed, the batch call reaches the real sidecar as a method it does not have: UNIMPLEMENTED.
    recorder = AioCallRecorder({STREAM_UPDATE_BATCHES: STREAM_UPDATE_BATCHES + "Missing"})
    ids = [f"old-{i}" for i in range(3)]
    acks, stats = asyncio.run(_stream_all(own_sidecar.address, ids, 20, ss.Batching(), recorder))
    assert all(a.applied for cid in ids for a in acks[cid]) and stats.acked == 60
    # It falls back at the first UNIMPLEMENTED and never asks for batches again. A batch call
    # that ended otherwise before it (the channel still connecting on a busy machine) is
    # retried as any broken stream is.
    batch_calls = recorder.calls[:-1]
    assert recorder.methods[-1] == STREAM_UPDATES and all(call.method == STREAM_UPDATE_BATCHES for call in batch_calls), recorder.calls
    assert [call.code == grpc.StatusCode.UNIMPLEMENTED for call in batch_calls] == [False] * (len(batch_calls) - 1) + [True], recorder.calls
    with ss.open_channel(own_sidecar.address) as channel:
        for cid in ids:
            expect_exactly(ss.SessionStoreServiceStub(channel), cid, 20)


OVERLOAD_SESSIONS, OVERLOAD_WRITES, MAX_BURSTS = 20, 150, 30
CHUNK = bytes([5]) * 3200


def test_updates_refused_as_overloaded_are_resent_until_every_write_is_stored_in_order(overload_sidecar: Sidecar, overload_stub, new_id):
    async def main() -> Tuple[List[Tuple[List[str], Dict[Tuple[str, int], pb.UpdateAck]]], ss.Stats]:
        async with ssa.open_channel(overload_sidecar.address) as channel:
            stub = ssa.SessionStoreServiceStub(channel)
            async with ssa.UpdateStream(stub, max_unacked=OVERLOAD_SESSIONS * OVERLOAD_WRITES) as stream:

                async def burst() -> Tuple[List[str], Dict[Tuple[str, int], pb.UpdateAck]]:
                    ids = [new_id() for _ in range(OVERLOAD_SESSIONS)]
                    for cid in ids:
                        created = await stub.CreateSession(pb.CreateSessionRequest(session=pb.Session(conversation_id=cid), owner_id="bridge-1"))
                        stream.track(created.session)
                    futures = {}
                    for n in range(1, OVERLOAD_WRITES + 1):
                        for cid in ids:
                            update = dict(append_history=[pb.ConversationItem(item_id=f"{cid}-{n}")], append_audio=[CHUNK])
                            futures[(cid, n)] = await stream.send(cid, **update)
                    return ids, {key: await asyncio.wait_for(future, 60) for key, future in futures.items()}

                # The sidecar sheds only when a commit outlasts its 20 ms queue timeout: burst until one is shed.
                bursts = [await burst()]
                while stream.stats.overloaded == 0 and len(bursts) < MAX_BURSTS:
                    bursts.append(await burst())
                return bursts, stream.stats

    bursts, stats = asyncio.run(main())
    assert stats.overloaded > 0, f"no update was shed in {len(bursts)} bursts"
    assert (stats.acked, stats.refused, stats.reconnects) == (len(bursts) * OVERLOAD_SESSIONS * OVERLOAD_WRITES, 0, 0)
    for ids, acks in bursts:
        # A resend is applied, never taken for a duplicate of what the sidecar refused.
        assert [key for key, ack in acks.items() if not ack.applied] == []
        for cid in ids:
            session = overload_stub.GetSession(pb.GetSessionRequest(conversation_id=cid)).session
            assert [h.item_id for h in session.conversation_history] == [f"{cid}-{n}" for n in range(1, OVERLOAD_WRITES + 1)]
