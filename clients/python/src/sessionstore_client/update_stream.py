"""UpdateStream: a bridge's writes for all its calls on one update stream.

The bookkeeping that makes the stream safe to lose:

- batching: the writes of the next few milliseconds go to the sidecar together in
  one StreamUpdateBatches request, and their acks come back together; each update
  still has its own seq, ack and error. batching=None (or a sidecar without
  StreamUpdateBatches) uses StreamUpdates, a message per update;
- seq: each write gets its session's next seq, counting from the last_seq of
  the Session given to track(), so the sidecar applies it at most once;
- replay: updates are kept until acknowledged; when the stream breaks (sidecar
  restart, network) it is reopened with backoff and every unacknowledged
  update is re-sent in the original order. Those the sidecar already had are
  acknowledged as duplicates (`applied` False);
- fencing: when the sidecar refuses a write as SESSION_FENCED (another bridge
  resumed the call) or SESSION_ENDED, on_fenced / on_ended is called, the
  session's other unacknowledged updates are dropped, and later writes for it
  raise SessionStopped without reaching the sidecar;
- backpressure: at most max_unacked updates wait for acks; write() blocks
  beyond that;
- overload: an update the sidecar refused as OVERLOADED (it could not commit it
  in time) was not applied, nor will the session's later ones on that stream
  be until it comes back. Its future stays unresolved; the session's unsent
  updates are held and, once those already sent have their acks, sent again in
  order after the delay the sidecar asked for (longer while it keeps refusing;
  see OverloadHold). stats.overloaded counts those acks.

Any other error ack is final: the update is not re-sent, since a later update of
the session may already have moved last_seq past it.
"""

from __future__ import annotations

import collections
import itertools
import logging
import queue
import random
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Callable, Deque, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import grpc
from google.protobuf import field_mask_pb2

from sessionstore.v1 import session_store_pb2 as pb
from sessionstore.v1.session_store_pb2_grpc import SessionStoreServiceStub

from .batching import Batching, batch_requests
from .errors import error_reason, retry_info
from .overload_hold import OverloadHold
from .update_errors import SessionStopped, Stats, StopInfo, StreamFailed, UpdateRefused

log = logging.getLogger(__name__)

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


@dataclass
class _Session:
    owner_epoch: int
    last_seq: int
    stopped: Optional[str] = None


@dataclass(eq=False)
class _Entry:
    key: int  # its place in UpdateStream._pending
    update: pb.SessionUpdate
    future: "Future[pb.UpdateAck]"
    dropped: bool = False


class UpdateStream:
    """One update stream for a bridge process. Thread-safe; use as a context manager
    or call close(). Futures returned by write() resolve to the UpdateAck once the update
    is durable, or fail with UpdateRefused / SessionStopped / StreamFailed. An OVERLOADED
    refusal fails none: the update is sent again, and its future resolves once it is durable.

    batching: how writes are coalesced into StreamUpdateBatches requests; the default
    Batching() lingers 2 ms and sends at most 500 updates or 1 MiB a request (see
    Batching). None sends each update in a StreamUpdates message of its own. Against a
    sidecar without StreamUpdateBatches (it answers UNIMPLEMENTED), the stream switches
    to StreamUpdates for good and re-sends there what it had sent."""

    def __init__(
        self,
        stub: SessionStoreServiceStub,
        *,
        metadata: Sequence[Tuple[str, str]] = (),
        max_unacked: int = 5000,
        batching: Optional[Batching] = Batching(),
        reconnect_delay: Tuple[float, float] = (0.05, 2.0),
        on_fenced: Optional[Callable[[StopInfo], None]] = None,
        on_ended: Optional[Callable[[StopInfo], None]] = None,
        on_disconnect: Optional[Callable[[grpc.StatusCode, str, int], None]] = None,
    ) -> None:
        if max_unacked < 1:
            raise ValueError(f"max_unacked must be >= 1, got {max_unacked}")
        if batching is not None and not isinstance(batching, Batching):
            raise TypeError(f"batching must be a Batching or None, got {batching!r}")
        self._stub = stub
        self._metadata = tuple(metadata)
        self._max_unacked = max_unacked
        self._batching = batching
        self._delays = reconnect_delay
        self._callbacks = {"SESSION_FENCED": on_fenced, "SESSION_ENDED": on_ended}
        self._on_disconnect = on_disconnect
        self._cond = threading.Condition()
        self._sessions: Dict[str, _Session] = {}
        # Unacknowledged updates, in write order: the replay order.
        self._pending: Dict[int, _Entry] = {}
        self._ids = itertools.count()
        # Per stream: updates sent on it and not yet acked, per session. Acks of one
        # session come in the order its updates were sent.
        self._inflight: Dict[str, Deque[_Entry]] = {}
        # What the open stream's request thread sends; None ends the stream.
        self._requests: Optional["queue.Queue[Optional[pb.SessionUpdate]]"] = None
        self._call: Any = None
        # Per stream: the sessions held after an OVERLOADED ack, and the timer of their resend.
        self._overload = OverloadHold()
        self._resend_timer: Optional[threading.Timer] = None
        self._closing = False
        self._stats = Stats()
        self._thread = threading.Thread(target=self._run, name="sessionstore-update-stream", daemon=True)
        self._thread.start()

    def __enter__(self) -> "UpdateStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def stats(self) -> Stats:
        with self._cond:
            return Stats(**vars(self._stats))

    @property
    def unacked(self) -> int:
        with self._cond:
            return len(self._pending)

    def track(self, session: pb.Session) -> None:
        """Starts (or restarts, after this bridge resumed the call again) writing for a
        session, from the Session that CreateSession or ResumeSession returned."""
        with self._cond:
            self._sessions[session.conversation_id] = _Session(session.owner_epoch, session.last_seq)

    def stopped(self, conversation_id: str) -> Optional[str]:
        """SESSION_FENCED or SESSION_ENDED once the session stopped taking writes, else None."""
        with self._cond:
            tracked = self._sessions.get(conversation_id)
            return tracked.stopped if tracked else None

    def write(
        self,
        conversation_id: str,
        *,
        update_mask: Sequence[str] = (),
        session: Optional[pb.Session] = None,
        append_history: Sequence[pb.ConversationItem] = (),
        upsert_function_calls: Sequence[pb.FunctionCall] = (),
        append_audio: Sequence[bytes] = (),
        etag: str = "",
        timeout: Optional[float] = None,
    ) -> "Future[pb.UpdateAck]":
        """Queues one update of a tracked session with its next seq and owner_epoch.
        Blocks while max_unacked updates wait for acks (TimeoutError after `timeout`).
        Raises SessionStopped once the session was fenced or ended."""
        with self._cond:
            tracked = self._sessions.get(conversation_id)
            if tracked is None:
                raise KeyError(f"{conversation_id} is not tracked: call track() with its Session first")
            if not self._cond.wait_for(lambda: self._closing or len(self._pending) < self._max_unacked, timeout):
                raise TimeoutError(f"{self._max_unacked} updates still wait for acks")
            if self._closing:
                raise RuntimeError("the update stream is closed")
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
            entry = _Entry(next(self._ids), update, Future())
            entry.future.set_running_or_notify_cancel()
            self._pending[entry.key] = entry
            # A held session's write would only be refused: it waits for the session's resend.
            if self._requests is not None and not self._overload.holds(conversation_id):
                self._send(entry)
            self._cond.notify_all()
            return entry.future

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Waits until every update written so far has its ack; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending, timeout)

    def close(self, timeout: Optional[float] = 10.0) -> None:
        """Waits up to `timeout` for outstanding acks, then ends the stream. Updates still
        unacknowledged fail with StreamFailed(CANCELLED)."""
        self.flush(timeout)
        with self._cond:
            self._closing = True
            if self._requests is not None:
                self._requests.put(None)  # half-close: the sidecar acks what it has, then ends the stream
            if self._pending and self._call is not None:
                self._call.cancel()
            self._cond.notify_all()
        self._thread.join(timeout)
        with self._cond:
            self._forget_holds()
            failed = self._take_pending()
        _fail(failed, StreamFailed(grpc.StatusCode.CANCELLED, "the update stream was closed"))

    # -- the stream thread ------------------------------------------------------------

    def _run(self) -> None:
        attempt = 0
        opened = 0
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._closing or self._pending)
                if self._closing:
                    return
                requests: "queue.Queue[Optional[pb.SessionUpdate]]" = queue.Queue()
                self._requests = requests
                self._inflight = {}
                self._forget_holds()  # the replay below carries the held updates too
                for entry in self._pending.values():
                    self._send(entry)
                if opened:
                    self._stats.reconnects += 1
                    self._stats.replayed += len(self._pending)
                opened += 1
                batching = self._batching
                self._call = call = self._open(requests, batching)
            code, details = grpc.StatusCode.OK, ""
            try:
                for response in call:
                    attempt = 0  # the sidecar answers: the next break starts the backoff afresh
                    self._on_acks(response.acks if batching is not None else (response,))
            except grpc.RpcError as err:
                code, details = err.code(), err.details() or ""
            with self._cond:
                requests.put(None)  # lets gRPC's request thread finish
                self._requests = self._call = None
                if code == grpc.StatusCode.UNIMPLEMENTED and batching is not None:
                    # A sidecar older than StreamUpdateBatches: StreamUpdates carries the same
                    # updates, one to a message, and the next turn of the loop re-sends them there.
                    log.info("the sidecar has no StreamUpdateBatches; using StreamUpdates")
                    self._batching = None
                    continue
                failed = [] if code in TRANSIENT else self._take_pending()
                unacked = len(self._pending)
            _fail(failed, StreamFailed(code, details))
            if unacked or code != grpc.StatusCode.OK:
                log.info("update stream ended: %s %s; %d updates to re-send", code.name, details, unacked)
            if self._on_disconnect:
                self._on_disconnect(code, details, unacked)
            if unacked:
                low, high = self._delays
                delay = min(high, low * 2**attempt) * random.uniform(0.8, 1.2)
                attempt += 1
                with self._cond:
                    self._cond.wait_for(lambda: self._closing, delay)

    def _open(self, requests: "queue.Queue[Optional[pb.SessionUpdate]]", batching: Optional[Batching]) -> Any:
        """Starts a call of the RPC in use, sending what is queued on `requests`."""
        if batching is None:
            return self._stub.StreamUpdates(_until_end(requests), metadata=self._metadata)
        # Through the generated stub, as messages built from the kept SessionUpdates:
        # UpdateStream is given a stub, and a call on pre-encoded bytes would need the
        # channel behind it. Copying an update into a request costs a few microseconds,
        # a small part of what a gRPC message of its own costs, which is what batching saves.
        return self._stub.StreamUpdateBatches(batch_requests(requests, batching), metadata=self._metadata)

    def _send(self, entry: _Entry) -> None:
        assert self._requests is not None
        self._inflight.setdefault(entry.update.conversation_id, collections.deque()).append(entry)
        self._requests.put(entry.update)

    def _on_acks(self, acks: Iterable[pb.UpdateAck]) -> None:
        """Settles the updates of one response's acks, taking the lock once for all of them."""
        done: List[Tuple[_Entry, Any]] = []
        stops: List[StopInfo] = []
        with self._cond:
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
                    self._stats.overloaded += 1
                    self._hold(ack)  # the update stays pending, for its resend
                    continue
                del self._pending[entry.key]
                if ack.HasField("error"):
                    self._stats.refused += 1
                    refused = UpdateRefused(ack.conversation_id, ack.seq, ack.error)
                    done.append((entry, refused))
                    if refused.reason in STOP_REASONS and not self._superseded(entry):
                        stops.append(self._stop_session(ack.conversation_id, refused, done))
                else:
                    self._overload.acknowledged()
                    self._stats.acked += 1
                    self._stats.duplicates += 0 if ack.applied else 1
                    done.append((entry, ack))
            self._resend_ready()
            self._cond.notify_all()
        # Callbacks and futures run user code: never under the lock. The callbacks
        # first, so that whoever waits on a refused future sees their effects.
        for stop in stops:
            callback = self._callbacks.get(stop.reason)
            if callback:
                callback(stop)
        for entry, outcome in done:
            if isinstance(outcome, Exception):
                entry.future.set_exception(outcome)
            else:
                entry.future.set_result(outcome)

    def _hold(self, ack: pb.UpdateAck) -> None:
        """Holds the session of an OVERLOADED ack, and schedules its resend unless one is due."""
        info = retry_info(ack.error)
        delay = self._overload.hold(ack.conversation_id, info.retry_delay.ToTimedelta().total_seconds() if info else 0.0)
        if delay is not None:
            self._resend_timer = threading.Timer(delay, self._resend_expired, (self._requests,))
            self._resend_timer.daemon = True
            self._resend_timer.start()

    def _resend_expired(self, requests: "queue.Queue[Optional[pb.SessionUpdate]]") -> None:
        """The resend timer of the stream that carries `requests`."""
        with self._cond:
            # That stream has ended: the next one replays every unacknowledged update.
            if self._requests is not requests:
                return
            self._overload.expire()
            self._resend_ready()

    def _resend_ready(self) -> None:
        """Sends again, in write order, the updates of the held sessions that OverloadHold releases."""
        ready = self._overload.release_ready(lambda cid: bool(self._inflight.get(cid)))
        if not ready:
            return
        sessions = set(ready)
        for entry in self._pending.values():
            if entry.update.conversation_id in sessions:
                self._send(entry)

    def _forget_holds(self) -> None:
        self._overload.clear()
        if self._resend_timer is not None:
            self._resend_timer.cancel()
            self._resend_timer = None

    def _superseded(self, entry: _Entry) -> bool:
        """A write fenced for an epoch that this bridge has since left by resuming the call
        again (and calling track()): only that write failed, the session goes on."""
        tracked = self._sessions.get(entry.update.conversation_id)
        return tracked is not None and entry.update.owner_epoch < tracked.owner_epoch

    def _stop_session(self, conversation_id: str, refused: UpdateRefused, done: List[Tuple[_Entry, Any]]) -> StopInfo:
        tracked = self._sessions.get(conversation_id)
        if tracked:
            tracked.stopped = refused.reason
        dropped = [e for e in self._pending.values() if e.update.conversation_id == conversation_id]
        for entry in dropped:
            entry.dropped = True  # its ack, if one comes on this stream, is ignored
            del self._pending[entry.key]
            done.append((entry, SessionStopped(conversation_id, refused.reason)))
        return StopInfo(conversation_id, refused.reason, refused, len(dropped))

    def _take_pending(self) -> List[_Entry]:
        taken = list(self._pending.values())
        self._pending.clear()
        self._cond.notify_all()
        return taken


def _fail(entries: List[_Entry], error: Exception) -> None:
    for entry in entries:
        entry.future.set_exception(error)


def _until_end(requests: "queue.Queue[Optional[pb.SessionUpdate]]") -> Iterator[pb.SessionUpdate]:
    """The requests of a StreamUpdates call: each queued update, until None."""
    while True:
        update = requests.get()
        if update is None:
            return
        yield update
