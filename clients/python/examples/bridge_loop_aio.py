"""bridge_loop.py's call, as an asyncio bridge runs it (sessionstore_client.aio), against a running sidecar:

1. the platform connects to pod-a: ResumeSession(create_if_missing) creates the
   session, and pod-a streams the call's turns (history + audio) through UpdateStream,
   each turn's write awaited until it is durable, while pod-a's other calls run on
   the same event loop;
2. the platform socket drops: pod-a marks the session PAUSED;
3. the platform reconnects, this time to pod-b: ResumeSession hands the call
   over (new owner_epoch) with its conversation and audio intact, and pod-b
   carries on; pod-a, which never noticed, is fenced on its next write, and its
   on_fenced coroutine runs;
4. the call ends; a late reconnect is refused, and its reason is read from the error.

Run:  python examples/bridge_loop_aio.py --address 127.0.0.1:50051
"""

from __future__ import annotations

import argparse
import asyncio

import grpc

import sessionstore_client.aio as ssa

pb = ssa.pb


async def connect_call(stub: ssa.SessionStoreServiceStub, stream: ssa.UpdateStream, call_id: str, pod: str, say: bool = True) -> pb.Session:
    """What a bridge does when the platform connects: take the session over, or start it."""
    resumed = await stub.ResumeSession(
        pb.ResumeSessionRequest(
            conversation_id=call_id,
            owner_id=pod,
            create_if_missing=True,
            session=pb.Session(bridge_type="audiocodes", bot_name="voice-bot", media_format="raw/lpcm16"),
        )
    )
    session = resumed.session
    audio = sum(len(chunk.data) for chunk in session.audio_buffer)
    how = "created" if resumed.created else f"resumed (resume #{session.resumed_count}, epoch {session.owner_epoch})"
    if say:
        print(f"{pod}: {how} {call_id} with {len(session.conversation_history)} history items and {audio} audio bytes")
    stream.track(session)  # its writes carry this epoch and continue from session.last_seq
    return session


async def play_turn(stream: ssa.UpdateStream, call_id: str, turn: int) -> None:
    """One exchange: the caller's words, the bot's reply, and the caller's audio frame; returns once durable."""
    await stream.write(
        call_id,
        update_mask=["current_turn"],
        session=pb.Session(current_turn=turn),
        append_history=[
            pb.ConversationItem(item_id=f"u{turn}", role="user", type="message", text=f"caller turn {turn}"),
            pb.ConversationItem(item_id=f"a{turn}", role="assistant", type="message", text=f"bot reply {turn}"),
        ],
        append_audio=[bytes([turn]) * 3200],  # 100 ms of 16 kHz PCM16
    )


async def other_calls(stub: ssa.SessionStoreServiceStub, stream: ssa.UpdateStream, call_id: str, count: int) -> int:
    """pod-a's other calls, each a task on the same loop as the call above: their turns interleave with it."""

    async def one(n: int) -> None:
        await connect_call(stub, stream, f"{call_id}-other-{n}", "pod-a", say=False)
        for turn in (1, 2):
            await play_turn(stream, f"{call_id}-other-{n}", turn)

    await asyncio.gather(*(one(n) for n in range(count)))
    return count


async def main(address: str, call_id: str) -> None:
    async with ssa.open_channel(address) as channel:
        stub = ssa.SessionStoreServiceStub(channel)

        async def fenced(info: ssa.StopInfo) -> None:
            # A coroutine: a real bridge would close the platform socket of that call here.
            print(f"pod-a: stopped writing {info.conversation_id}: {info.reason} (now owned by {info.error.info.metadata['owner_id']})")

        # Each pod is its own process in production, with its own stream.
        pod_a = ssa.UpdateStream(stub, on_fenced=fenced)
        await connect_call(stub, pod_a, call_id, "pod-a")

        async def this_call() -> None:
            for turn in (1, 2):
                await play_turn(pod_a, call_id, turn)

        _, others = await asyncio.gather(this_call(), other_calls(stub, pod_a, call_id, 20))
        await pod_a.write(call_id, update_mask=["status"], session=pb.Session(status=pb.SESSION_STATUS_PAUSED))
        print(f"pod-a: platform socket dropped; session PAUSED ({others} other calls streamed meanwhile)")

        async with ssa.UpdateStream(stub) as pod_b:
            session = await connect_call(stub, pod_b, call_id, "pod-b")
            for turn in (3, 4):
                await play_turn(pod_b, call_id, turn)

            # pod-a still believes it serves the call; the sidecar refuses its write.
            try:
                await pod_a.write(call_id, append_history=[pb.ConversationItem(text="stale write")])
            except ssa.UpdateRefused as refused:
                print(f"pod-a: late write refused: {refused.reason}")
            await pod_a.close()

            ended = await stub.EndSession(pb.EndSessionRequest(conversation_id=call_id, reason="caller hung up", owner_epoch=session.owner_epoch))
        print(f"pod-b: call ended after turn {ended.session.current_turn}; status {pb.SessionStatus.Name(ended.session.status)}")

        try:
            await stub.ResumeSession(pb.ResumeSessionRequest(conversation_id=call_id, owner_id="pod-c"))
        except grpc.aio.AioRpcError as err:
            print(f"pod-c: reconnect refused: {err.code().name} {ssa.error_reason(err)} ({err.details()})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--address", required=True, help="the sidecar's host:port or unix:/path")
    parser.add_argument("--call-id", default="example-call-1")
    args = parser.parse_args()
    asyncio.run(main(args.address, args.call_id))
