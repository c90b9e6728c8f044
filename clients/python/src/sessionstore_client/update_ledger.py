"""UpdateLedger: the bookkeeping of an update stream, shared by the threaded and the asyncio UpdateStream.

It holds what docs/UPDATE-STREAM-PROTOCOL.md asks a client to keep (seq numbering
from last_seq, the unacknowledged updates in write order for replay, the updates in
flight on the open stream, fencing and ending, OVERLOADED holds) and decides what to
send and how each ack settles its update. It does no I/O, takes no lock and resolves
no future: its callers (sessionstore_client.UpdateStream under its lock,
sessionstore_client.aio.UpdateStream on its event loop) send the updates it returns,
in the order it returns them, and settle futures with the outcomes it returns.
"""

from __future__ import annotations

import collections
import itertools
import logging
from dataclasses import dataclass, field
from typing import Any, Deque, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import grpc
from google.protobuf import field_mask_pb2

from sessionstore.v1 import session_store_pb2 as pb

from .errors import error_reason, retry_info
from .overload_hold import OverloadHold
from .update_errors import SessionStopped, Stats, StopInfo, UpdateRefused

log = logging.getLogger("sessionstore_client.update_stream")

# Stream endings that a new stream can cure; any other fails the unacknowledged
# updates rather than re-sending them forever.
TRANSIENT = frozenset(
    {
        grpc.StatusCode.OK,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
    }
)
STOP_REASONS = ("SESSION_FENCED", "SESSION_ENDED")



def falls_back(code: grpc.StatusCode, batched: bool) -> bool:
    """A StreamUpdateBatches call answered UNIMPLEMENTED: the sidecar is older than it, and
    StreamUpdates carries the same updates, one to a message, for the rest of the stream's life."""
    return batched and code == grpc.StatusCode.UNIMPLEMENTED


Outcome = Union[pb.UpdateAck, Exception]


@dataclass
class _Session:
    owner_epoch: int
    last_seq: int
    stopped: Optional[str] = None


@dataclass(eq=False)
class Entry:
    """One written update until it is settled. `future` is the caller's (threaded or asyncio)."""

    key: int  # its place in UpdateLedger.pending: the write order
    update: pb.SessionUpdate
    future: Any
    dropped: bool = False  # its session stopped: an ack still coming for it is ignored


@dataclass
class Settled:
    """What one response's acks did. The caller sends `resend` at once, runs the stop
    callbacks, then settles `done`, and, if `hold_delay` is set, (re)sets its resend timer
    to call expire() after that many seconds."""

    done: List[Tuple[Entry, Outcome]] = field(default_factory=list)
    stops: List[StopInfo] = field(default_factory=list)
    resend: List[Entry] = field(default_factory=list)
    hold_delay: Optional[float] = None


class UpdateLedger:
    def __init__(self) -> None:
        self.stats = Stats()
        self._sessions: Dict[str, _Session] = {}
        # Unacknowledged updates, in write order: the replay order.
        self.pending: Dict[int, Entry] = {}
        self._ids = itertools.count()
        # Per open stream: updates sent on it and not yet acked, per session. Acks of one
        # session come in the order its updates were sent.
        self._inflight: Dict[str, Deque[Entry]] = {}
        self._overload = OverloadHold()
        self._open = False
        self._opened = 0
        # Which stream a hold's expiry belongs to: one that comes after its stream ended is void.
        self.stream_id = 0

    def track(self, session: pb.Session) -> None:
        """Writes for the session go on from `session`: its epoch, and seqs after the higher of
        its last_seq and the last seq handed out here, so that no seq is given twice (a
        Session read before writes still in flight must not number new writes as duplicates
        of those). Tracking again lifts a stop."""
        known = self._sessions.get(session.conversation_id)
        last_seq = max(session.last_seq, known.last_seq) if known else session.last_seq
        self._sessions[session.conversation_id] = _Session(session.owner_epoch, last_seq)

    def stopped(self, conversation_id: str) -> Optional[str]:
        tracked = self._sessions.get(conversation_id)
        return tracked.stopped if tracked else None

    def require_tracked(self, conversation_id: str) -> None:
        if conversation_id not in self._sessions:
            raise KeyError(f"{conversation_id} is not tracked: call track() with its Session first")

    def add(
        self,
        conversation_id: str,
        future: Any,
        *,
        update_mask: Sequence[str] = (),
        session: Optional[pb.Session] = None,
        append_history: Sequence[pb.ConversationItem] = (),
        upsert_function_calls: Sequence[pb.FunctionCall] = (),
        append_audio: Sequence[bytes] = (),
        etag: str = "",
    ) -> Tuple[Entry, bool]:
        """Gives a tracked session's next update its seq and owner_epoch and keeps it until
        settled. Returns it with whether to send it now (it is then in flight): not while no
        stream is open (the next one replays it) nor while its session is held after an
        OVERLOADED ack (it would only be refused; it goes with the session's resend)."""
        self.require_tracked(conversation_id)
        tracked = self._sessions[conversation_id]
        if tracked.stopped:
            raise SessionStopped(conversation_id, tracked.stopped)
        tracked.last_seq += 1
        update = pb.SessionUpdate(
            conversation_id=conversation_id,
            owner_epoch=tracked.owner_epoch,
            seq=tracked.last_seq,
            etag=etag,
            update_mask=field_mask_pb2.FieldMask(paths=list(update_mask)) if update_mask else None,
            session=session,
            append_history=append_history,
            upsert_function_calls=upsert_function_calls,
            append_audio=[pb.AudioChunk(data=data) for data in append_audio],
        )
        entry = Entry(next(self._ids), update, future)
        self.pending[entry.key] = entry
        send = self._open and not self._overload.holds(conversation_id)
        if send:
            self._sent(entry)
        return entry, send

    def open_stream(self) -> List[Entry]:
        """A stream opens: returns every unacknowledged update, in write order, to send on it."""
        self._open = True
        self.stream_id += 1
        self._inflight = {}
        self._overload.clear()  # the replay carries the held updates too
        if self._opened:
            self.stats.reconnects += 1
            self.stats.replayed += len(self.pending)
        self._opened += 1
        replay = list(self.pending.values())
        for entry in replay:
            self._sent(entry)
        return replay

    def end_stream(self, code: grpc.StatusCode, batched: bool) -> List[Entry]:
        """The open stream ended with `code`. Returns the updates to fail: none when a new
        stream can cure it, or when falls_back() says to re-send them on StreamUpdates
        (they are replayed); all unacknowledged ones otherwise."""
        self._open = False
        self._inflight = {}
        self._overload.clear()
        return [] if code in TRANSIENT or falls_back(code, batched) else self.take_pending()

    def take_pending(self) -> List[Entry]:
        taken = list(self.pending.values())
        self.pending.clear()
        return taken

    def settle(self, acks: Iterable[pb.UpdateAck]) -> Settled:
        """Settles the updates of one response's acks."""
        settled = Settled()
        for ack in acks:
            sent = self._inflight.get(ack.conversation_id)
            entry = sent.popleft() if sent else None
            if entry is None or entry.update.seq != ack.seq:
                # Only a sidecar breaking the per-session ack order gets here.
                log.error("unexpected ack for %s seq %d", ack.conversation_id, ack.seq)
                continue
            if entry.dropped:
                continue
            if ack.HasField("error") and error_reason(ack.error) == "OVERLOADED":
                self.stats.overloaded += 1
                info = retry_info(ack.error)
                delay = self._overload.hold(ack.conversation_id, info.retry_delay.ToTimedelta().total_seconds() if info else 0.0)
                if delay is not None:
                    settled.hold_delay = delay
                continue  # the update stays pending, for its resend
            del self.pending[entry.key]
            if ack.HasField("error"):
                self.stats.refused += 1
                refused = UpdateRefused(ack.conversation_id, ack.seq, ack.error)
                settled.done.append((entry, refused))
                if refused.reason in STOP_REASONS and not self._superseded(entry):
                    settled.stops.append(self._stop_session(ack.conversation_id, refused, settled.done))
            else:
                self._overload.acknowledged()
                self.stats.acked += 1
                self.stats.duplicates += 0 if ack.applied else 1
                settled.done.append((entry, ack))
        settled.resend = self._release()
        return settled

    def expire(self, stream_id: int) -> Tuple[List[Entry], Optional[float]]:
        """The resend timer of stream `stream_id` fired: returns the updates to resend, and
        the delay after which to fire it again (None: no held session waits for it)."""
        if not self._open or stream_id != self.stream_id:
            return [], None  # that stream has ended: the next one replays every unacknowledged update
        next_delay = self._overload.expire()
        return self._release(), next_delay

    def _release(self) -> List[Entry]:
        """The updates, in write order, of the held sessions that OverloadHold releases; now in flight."""
        ready = set(self._overload.release_ready(lambda cid: bool(self._inflight.get(cid))))
        resend = [entry for entry in self.pending.values() if entry.update.conversation_id in ready] if ready else []
        for entry in resend:
            self._sent(entry)
        return resend

    def _sent(self, entry: Entry) -> None:
        self._inflight.setdefault(entry.update.conversation_id, collections.deque()).append(entry)

    def _superseded(self, entry: Entry) -> bool:
        """A write fenced for an epoch that this bridge has since left by resuming the call
        again (and calling track()): only that write failed, the session goes on."""
        tracked = self._sessions.get(entry.update.conversation_id)
        return tracked is not None and entry.update.owner_epoch < tracked.owner_epoch

    def _stop_session(self, conversation_id: str, refused: UpdateRefused, done: List[Tuple[Entry, Outcome]]) -> StopInfo:
        tracked = self._sessions.get(conversation_id)
        if tracked:
            tracked.stopped = refused.reason
        dropped = [e for e in self.pending.values() if e.update.conversation_id == conversation_id]
        for entry in dropped:
            entry.dropped = True
            del self.pending[entry.key]
            done.append((entry, SessionStopped(conversation_id, refused.reason)))
        return StopInfo(conversation_id, refused.reason, refused, len(dropped))
