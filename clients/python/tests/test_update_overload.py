"""UpdateStream against a sidecar that sheds load: updates refused as OVERLOADED are held
and sent again until every write is stored, in order."""

from __future__ import annotations

from typing import Callable, Dict, List, Tuple

import sessionstore_client as ss

pb = ss.pb
SESSIONS, WRITES = 20, 150
CHUNK = bytes([5]) * 3200  # 100 ms of 16 kHz 16-bit audio
# The sidecar sheds only when a commit outlasts its 20 ms queue timeout, which one burst
# from one Python stream does not always cause: up to this many bursts, until one is shed.
MAX_BURSTS = 30

Acks = Dict[Tuple[str, int], pb.UpdateAck]


def burst(stub: ss.SessionStoreServiceStub, stream: ss.UpdateStream, new_id: Callable[[], str]) -> Tuple[List[str], Acks]:
    """Writes every update of SESSIONS new sessions at once, and waits for their acks."""
    ids = [new_id() for _ in range(SESSIONS)]
    for cid in ids:
        stream.track(stub.CreateSession(pb.CreateSessionRequest(session=pb.Session(conversation_id=cid), owner_id="bridge-1")).session)
    futures = {
        (cid, n): stream.write(cid, append_history=[pb.ConversationItem(item_id=f"{cid}-{n}")], append_audio=[CHUNK])
        for n in range(1, WRITES + 1)
        for cid in ids
    }
    return ids, {key: future.result(60) for key, future in futures.items()}


def test_updates_refused_as_overloaded_are_resent_until_every_write_is_stored_in_order(overload_stub, new_id):
    stub = overload_stub
    with ss.UpdateStream(stub, max_unacked=SESSIONS * WRITES) as stream:
        bursts = [burst(stub, stream, new_id)]
        while stream.stats.overloaded == 0 and len(bursts) < MAX_BURSTS:
            bursts.append(burst(stub, stream, new_id))
        stats = stream.stats

    assert stats.overloaded > 0, f"no update was shed in {len(bursts)} bursts"
    assert (stats.acked, stats.refused, stats.reconnects) == (len(bursts) * SESSIONS * WRITES, 0, 0)
    for ids, acks in bursts:
        # A resend is applied, never taken for a duplicate of what the sidecar refused.
        assert [key for key, ack in acks.items() if not ack.applied] == []
        for cid in ids:
            session = stub.GetSession(pb.GetSessionRequest(conversation_id=cid)).session
            assert session.last_seq == WRITES
            assert [h.item_id for h in session.conversation_history] == [f"{cid}-{n}" for n in range(1, WRITES + 1)]
