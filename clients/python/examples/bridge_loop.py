"""A voice bridge's loop around one call, against a running sidecar:

1. the platform connects to pod-a: ResumeSession(create_if_missing) creates the
   session, and pod-a streams the call's turns (history + audio) through UpdateStream;
2. the platform socket drops: pod-a marks the session PAUSED;
3. the platform reconnects, this time to pod-b: ResumeSession hands the call
   over (new owner_epoch) with its conversation and audio intact, and pod-b
   carries on; pod-a, which never noticed, is fenced on its next write;
4. the call ends; a late reconnect is refused, and its reason is read from the error.

Run:  python examples/bridge_loop.py --address 127.0.0.1:50051
"""

from __future__ import annotations

import argparse
import uuid

import grpc

import sessionstore_client as ss

pb = ss.pb


def connect_call(stub: ss.SessionStoreServiceStub, stream: ss.UpdateStream, call_id: str, pod: str) -> pb.Session:
    """What a bridge does when the platform connects: take the session over, or start it."""
    resumed = stub.ResumeSession(
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
    print(f"{pod}: {how} {call_id} with {len(session.conversation_history)} history items and {audio} audio bytes")
    stream.track(session)  # its writes carry this epoch and continue from session.last_seq
    return session


def play_turn(stream: ss.UpdateStream, call_id: str, turn: int) -> None:
    """One exchange: the caller's words, the bot's reply, and the caller's audio frame."""
    stream.write(
        call_id,
        update_mask=["current_turn"],
        session=pb.Session(current_turn=turn),
        append_history=[
            pb.ConversationItem(item_id=f"u{turn}", role="user", type="message", text=f"caller turn {turn}"),
            pb.ConversationItem(item_id=f"a{turn}", role="assistant", type="message", text=f"bot reply {turn}"),
        ],
        append_audio=[bytes([turn]) * 3200],  # 100 ms of 16 kHz PCM16
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--address", required=True, help="the sidecar's host:port or unix:/path")
    # A new id each run by default, so the example runs any number of times (an ended call stays ended).
    parser.add_argument("--call-id", default=None, help="the call's conversation_id (default: a new one)")
    args = parser.parse_args()
    call_id = args.call_id or f"example-call-{uuid.uuid4().hex[:12]}"
    channel = ss.open_channel(args.address)
    stub = ss.SessionStoreServiceStub(channel)

    def fenced(info: ss.StopInfo) -> None:
        print(f"pod-a: stopped writing {info.conversation_id}: {info.reason} (now owned by {info.error.info.metadata['owner_id']})")

    # Each pod is its own process in production, with its own stream.
    pod_a = ss.UpdateStream(stub, on_fenced=fenced)
    connect_call(stub, pod_a, call_id, "pod-a")
    for turn in (1, 2):
        play_turn(pod_a, call_id, turn)
    pod_a.write(call_id, update_mask=["status"], session=pb.Session(status=pb.SESSION_STATUS_PAUSED))
    pod_a.flush(10)
    print("pod-a: platform socket dropped; session PAUSED")

    pod_b = ss.UpdateStream(stub)
    session = connect_call(stub, pod_b, call_id, "pod-b")
    for turn in (3, 4):
        play_turn(pod_b, call_id, turn)
    pod_b.flush(10)

    # pod-a still believes it serves the call; the sidecar refuses its write.
    late = pod_a.write(call_id, append_history=[pb.ConversationItem(text="stale write")])
    try:
        late.result(10)
    except ss.UpdateRefused as refused:
        print(f"pod-a: late write refused: {refused.reason}")
    pod_a.close()

    ended = stub.EndSession(pb.EndSessionRequest(conversation_id=call_id, reason="caller hung up", owner_epoch=session.owner_epoch)).session
    pod_b.close()
    print(f"pod-b: call ended after turn {ended.current_turn}; status {pb.SessionStatus.Name(ended.status)}")

    try:
        stub.ResumeSession(pb.ResumeSessionRequest(conversation_id=call_id, owner_id="pod-c"))
    except grpc.RpcError as err:
        print(f"pod-c: reconnect refused: {err.code().name} {ss.error_reason(err)} ({err.details()})")
    channel.close()


if __name__ == "__main__":
    main()
