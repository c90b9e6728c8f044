"""sessionstore_client.aio.UpdateStream against the real sidecar: many calls on one event loop,
replay across a drained and a killed sidecar, fencing and ending, backpressure and close."""

from __future__ import annotations

import asyncio
import signal
import statistics
from typing import Dict, List, Tuple

import pytest

import sessionstore_client as ss
import sessionstore_client.aio as ssa

from helpers import expect_exactly, round_update, write_round
from sidecar import Sidecar

pb = ss.pb
CALLS, ROUNDS = 200, 10


class LoopLag:
    """How late the event loop runs a 10 ms sleeper: what a coroutine that blocks the loop shows up as."""

    TICK = 0.01

    def __init__(self) -> None:
        self.lags: List[float] = []
        self._task = asyncio.get_running_loop().create_task(self._tick())

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(self.TICK)
            self.lags.append(loop.time() - start - self.TICK)

    async def stop(self) -> List[float]:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        return sorted(self.lags)


def _ms(lags: List[float], q: float) -> float:
    return 1000 * lags[min(len(lags) - 1, int(q * len(lags)))]


def _stub_of(sidecar: Sidecar) -> ss.SessionStoreServiceStub:
    """A threaded stub to check what the sidecar stored, independently of the client under test."""
    return ss.SessionStoreServiceStub(ss.open_channel(sidecar.address))


async def _create(stub: ssa.SessionStoreServiceStub, cid: str, owner: str = "pod-a") -> pb.Session:
    return (await stub.CreateSession(pb.CreateSessionRequest(session=pb.Session(conversation_id=cid), owner_id=owner))).session


def test_200_calls_stream_concurrently_on_one_loop_and_every_update_is_acked(sidecar: Sidecar, stub, new_id):
    ids = [new_id() for _ in range(CALLS)]

    async def main() -> Tuple[List[List[pb.UpdateAck]], ss.Stats, List[float], List[float]]:
        # The floor: the same sleeper on an idle loop, on this machine as loaded as it is now.
        idle = LoopLag()
        await asyncio.sleep(1.0)
        floor = await idle.stop()
        async with ssa.open_channel(sidecar.address) as channel:
            astub = ssa.SessionStoreServiceStub(channel)
            async with ssa.UpdateStream(astub) as stream:
                lag = LoopLag()

                async def call(cid: str) -> List[pb.UpdateAck]:
                    # A bridge's call: its turns one after another, each awaited until durable.
                    stream.track(await _create(astub, cid))
                    return [await write_round(stream, cid, n) for n in range(1, ROUNDS + 1)]

                acks = await asyncio.gather(*(call(cid) for cid in ids))
                return acks, stream.stats, await lag.stop(), floor

    acks, stats, lags, floor = asyncio.run(main())
    for cid, call_acks in zip(ids, acks):
        assert [(a.conversation_id, a.seq, a.applied) for a in call_acks] == [(cid, n, True) for n in range(1, ROUNDS + 1)]
    assert (stats.acked, stats.duplicates, stats.refused, stats.reconnects) == (CALLS * ROUNDS, 0, 0, 0)
    for cid in ids:
        expect_exactly(stub, cid, ROUNDS)
    # A figure to report, not to assert: timings on a shared machine are noise (docs/BENCHMARKS.md).
    print(
        f"\nevent loop lag while {CALLS} calls stream {ROUNDS} rounds each: p50 {_ms(lags, 0.5):.1f} ms, "
        f"p99 {_ms(lags, 0.99):.1f} ms, max {1000 * lags[-1]:.1f} ms over {len(lags)} ticks "
        f"(mean {1000 * statistics.mean(lags):.1f} ms); idle loop: p50 {_ms(floor, 0.5):.1f} ms, "
        f"p99 {_ms(floor, 0.99):.1f} ms, max {1000 * floor[-1]:.1f} ms"
    )


def test_writes_while_the_sidecar_is_down_are_replayed_when_it_is_back(own_sidecar: Sidecar):
    disconnects: List[str] = []

    async def on_disconnect(code, details, unacked) -> None:  # a coroutine callback is awaited
        disconnects.append(code.name)

    async def main() -> Tuple[List[int], ss.Stats]:
        async with ssa.open_channel(own_sidecar.address) as channel:
            astub = ssa.SessionStoreServiceStub(channel)
            async with ssa.UpdateStream(astub, on_disconnect=on_disconnect) as stream:
                stream.track(await _create(astub, "down-1"))
                for n in range(1, 6):
                    await write_round(stream, "down-1", n)
                await asyncio.to_thread(own_sidecar.stop)  # SIGTERM: the sidecar drains, then ends the stream
                later = [await stream.send("down-1", **round_update(n)) for n in range(6, 11)]
                await asyncio.sleep(0.5)  # the stream is retrying against a closed port
                assert stream.unacked == 5
                await asyncio.to_thread(own_sidecar.start)
                assert await stream.flush(30), "the queued updates were not acknowledged after the restart"
                return [(await f).seq for f in later], stream.stats

    seqs, stats = asyncio.run(main())
    assert seqs == [6, 7, 8, 9, 10]
    assert stats.reconnects >= 1 and stats.replayed >= 5
    assert disconnects, "on_disconnect was not awaited"
    expect_exactly(_stub_of(own_sidecar), "down-1", 10)


@pytest.mark.parametrize("batching", [ss.Batching(), None], ids=["batches", "single"])
def test_a_sigkill_mid_stream_loses_no_acked_update_and_applies_none_twice(own_sidecar: Sidecar, batching):
    ids, rounds = [f"crash-{i}" for i in range(20)], 30

    async def main() -> Tuple[Dict[str, List[pb.UpdateAck]], ss.Stats]:
        async with ssa.open_channel(own_sidecar.address) as channel:
            astub = ssa.SessionStoreServiceStub(channel)
            async with ssa.UpdateStream(astub, batching=batching) as stream:
                for cid in ids:
                    stream.track(await _create(astub, cid))
                futures = {cid: [] for cid in ids}

                async def send_rounds(rounds_: range) -> None:
                    for n in rounds_:
                        for cid in ids:
                            futures[cid].append(await stream.send(cid, **round_update(n)))

                await send_rounds(range(1, rounds - 4))
                await asyncio.wait_for(futures[ids[0]][5], 10)  # some are durable, the rest in flight
                await asyncio.to_thread(own_sidecar.stop, signal.SIGKILL)
                # The last rounds are written while it is down, so a replay on a new stream is
                # certain even where a busy machine had every earlier write acked before the kill.
                await send_rounds(range(rounds - 4, rounds + 1))
                await asyncio.to_thread(own_sidecar.start)
                assert await stream.flush(30)
                acks = {}
                for cid, fs in futures.items():  # a loop: Python 3.9 takes no await in a nested comprehension
                    acks[cid] = [await f for f in fs]
                return acks, stream.stats

    acks, stats = asyncio.run(main())
    check = _stub_of(own_sidecar)
    for cid in ids:
        # Updates made durable before the crash but never acked come back as duplicates.
        assert [a.seq for a in acks[cid]] == list(range(1, rounds + 1))
        expect_exactly(check, cid, rounds)
    assert stats.acked == len(ids) * rounds and stats.reconnects >= 1 and stats.replayed >= 1


def test_fencing_stops_the_session_with_a_coroutine_callback_and_the_stream_goes_on(sidecar: Sidecar, stub, new_id):
    cid, other = new_id(), new_id("other")

    async def main() -> None:
        async with ssa.open_channel(sidecar.address) as channel:
            astub = ssa.SessionStoreServiceStub(channel)
            await _create(astub, cid)
            other_session = await _create(astub, other)
            mine = (await astub.ResumeSession(pb.ResumeSessionRequest(conversation_id=cid, owner_id="pod-a"))).session
            fenced: List[ss.StopInfo] = []

            async def on_fenced(info: ss.StopInfo) -> None:
                await asyncio.sleep(0)  # it may await, e.g. to tell the platform
                fenced.append(info)

            async with ssa.UpdateStream(astub, on_fenced=on_fenced) as stream:
                stream.track(mine)
                stream.track(other_session)
                assert (await stream.write(cid, append_history=[pb.ConversationItem(item_id="a1")])).applied

                await astub.ResumeSession(pb.ResumeSessionRequest(conversation_id=cid, owner_id="pod-b"))
                refused = await stream.send(cid, append_history=[pb.ConversationItem(item_id="a2")])
                dropped = await stream.send(cid, append_history=[pb.ConversationItem(item_id="a3")])
                with pytest.raises(ss.UpdateRefused) as raised:
                    await refused
                assert (raised.value.reason, raised.value.info.metadata["owner_id"]) == ("SESSION_FENCED", "pod-b")
                # The callback ran before the refused write was settled.
                assert [(f.conversation_id, f.reason) for f in fenced] == [(cid, "SESSION_FENCED")]
                assert stream.stopped(cid) == "SESSION_FENCED"
                with pytest.raises(ss.SessionStopped):
                    await dropped
                with pytest.raises(ss.SessionStopped) as stopped:
                    await stream.write(cid, append_history=[pb.ConversationItem(item_id="a4")])
                assert stopped.value.reason == "SESSION_FENCED"
                assert (await stream.write(other, append_history=[pb.ConversationItem(item_id="o1")])).applied

    asyncio.run(main())
    assert [h.item_id for h in stub.GetSession(pb.GetSessionRequest(conversation_id=cid)).session.conversation_history] == ["a1"]
    assert [h.item_id for h in stub.GetSession(pb.GetSessionRequest(conversation_id=other)).session.conversation_history] == ["o1"]


def test_an_ended_session_stops_with_a_plain_callback(sidecar: Sidecar, new_id):
    cid = new_id()

    async def main() -> List[str]:
        async with ssa.open_channel(sidecar.address) as channel:
            astub = ssa.SessionStoreServiceStub(channel)
            ended: List[str] = []
            async with ssa.UpdateStream(astub, on_ended=lambda info: ended.append(info.reason)) as stream:
                stream.track(await _create(astub, cid))
                await astub.EndSession(pb.EndSessionRequest(conversation_id=cid, reason="hangup"))
                with pytest.raises(ss.UpdateRefused) as raised:
                    await stream.write(cid, append_history=[pb.ConversationItem(text="late")])
                assert raised.value.reason == "SESSION_ENDED" and stream.stopped(cid) == "SESSION_ENDED"
            return ended

    assert asyncio.run(main()) == ["SESSION_ENDED"]


def test_writes_wait_for_room_under_max_unacked_and_close_fails_what_is_left(own_sidecar: Sidecar):
    async def main() -> None:
        async with ssa.open_channel(own_sidecar.address) as channel:
            astub = ssa.SessionStoreServiceStub(channel)
            stream = ssa.UpdateStream(astub, max_unacked=2)
            stream.track(await _create(astub, "room-1"))
            await asyncio.to_thread(own_sidecar.stop)
            first = [await stream.send("room-1", **round_update(n)) for n in (1, 2)]
            with pytest.raises(TimeoutError):
                await stream.send("room-1", **round_update(3), timeout=0.3)
            # A write waiting for room is let through once the sidecar is back and acks come.
            waiting = asyncio.ensure_future(stream.write("room-1", **round_update(3)))
            await asyncio.sleep(0.2)
            assert not waiting.done()
            await asyncio.to_thread(own_sidecar.start)
            assert (await asyncio.wait_for(waiting, 30)).seq == 3
            assert [(await f).seq for f in first] == [1, 2]

            await asyncio.to_thread(own_sidecar.stop)
            stranded = await stream.send("room-1", **round_update(4))
            await stream.close(timeout=0.5)
            with pytest.raises(ss.StreamFailed) as failed:
                await stranded
            assert failed.value.code.name == "CANCELLED"
            with pytest.raises(RuntimeError, match="closed"):
                await stream.send("room-1", **round_update(5))
            await asyncio.to_thread(own_sidecar.start)

    asyncio.run(main())
    expect_exactly(_stub_of(own_sidecar), "room-1", 3)


def test_a_coroutine_callback_that_raises_is_logged_and_the_stream_goes_on(sidecar: Sidecar, new_id, caplog):
    cid, other = new_id(), new_id("other")

    async def broken(info: ss.StopInfo) -> None:
        raise RuntimeError("the bridge's own bug")

    async def main() -> None:
        async with ssa.open_channel(sidecar.address) as channel:
            astub = ssa.SessionStoreServiceStub(channel)
            async with ssa.UpdateStream(astub, on_ended=broken) as stream:
                stream.track(await _create(astub, cid))
                stream.track(await _create(astub, other))
                await astub.EndSession(pb.EndSessionRequest(conversation_id=cid, reason="hangup"))
                with pytest.raises(ss.UpdateRefused):
                    await stream.write(cid, append_history=[pb.ConversationItem(text="late")])
                assert (await stream.write(other, append_history=[pb.ConversationItem(item_id="o1")], timeout=10)).applied

    asyncio.run(main())
    assert any("raised" in record.message and record.exc_info for record in caplog.records)
