"""UpdateStream: a bridge's writes for all its calls on one update stream, from threads.

docs/UPDATE-STREAM-PROTOCOL.md says what makes the stream safe to lose: seq numbering
from last_seq, the unacknowledged updates replayed on a new stream, duplicate acks,
fencing and ending, OVERLOADED holds, batching. UpdateLedger keeps that bookkeeping
(shared with sessionstore_client.aio.UpdateStream); this module adds a thread that
runs the stream, reconnecting with backoff, and futures for the acks.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from typing import Any, Callable, Iterable, Iterator, List, Optional, Sequence, Tuple

import grpc

from sessionstore.v1 import session_store_pb2 as pb
from sessionstore.v1.session_store_pb2_grpc import SessionStoreServiceStub

from .backoff import backoff_delay
from .batching import Batching, batch_requests
from .update_errors import Stats, StopInfo, StreamFailed
from .update_ledger import STOP_REASONS, TRANSIENT, Entry, Outcome, UpdateLedger, falls_back

log = logging.getLogger(__name__)

__all__ = ["STOP_REASONS", "TRANSIENT", "UpdateStream"]


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
        check_options(max_unacked, batching)
        self._stub = stub
        self._metadata = tuple(metadata)
        self._max_unacked = max_unacked
        self._batching = batching
        self._delays = reconnect_delay
        self._callbacks = {"SESSION_FENCED": on_fenced, "SESSION_ENDED": on_ended}
        self._on_disconnect = on_disconnect
        self._cond = threading.Condition()
        self._ledger = UpdateLedger()
        # What the open stream's request thread sends; None ends the stream.
        self._requests: Optional["queue.Queue[Optional[pb.SessionUpdate]]"] = None
        self._call: Any = None
        self._resend_timer: Optional[threading.Timer] = None
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="sessionstore-update-stream", daemon=True)
        self._thread.start()

    def __enter__(self) -> "UpdateStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def stats(self) -> Stats:
        with self._cond:
            return Stats(**vars(self._ledger.stats))

    @property
    def unacked(self) -> int:
        with self._cond:
            return len(self._ledger.pending)

    def track(self, session: pb.Session) -> None:
        """Starts (or restarts, after this bridge resumed the call again) writing for a
        session, from the Session that CreateSession or ResumeSession returned."""
        with self._cond:
            self._ledger.track(session)

    def stopped(self, conversation_id: str) -> Optional[str]:
        """SESSION_FENCED or SESSION_ENDED once the session stopped taking writes, else None."""
        with self._cond:
            return self._ledger.stopped(conversation_id)

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
            self._ledger.require_tracked(conversation_id)
            if not self._cond.wait_for(lambda: self._closing or len(self._ledger.pending) < self._max_unacked, timeout):
                raise TimeoutError(f"{self._max_unacked} updates still wait for acks")
            if self._closing:
                raise RuntimeError("the update stream is closed")
            future: "Future[pb.UpdateAck]" = Future()
            future.set_running_or_notify_cancel()
            entry, send = self._ledger.add(
                conversation_id,
                future,
                update_mask=update_mask,
                session=session,
                append_history=append_history,
                upsert_function_calls=upsert_function_calls,
                append_audio=append_audio,
                etag=etag,
            )
            if send:
                self._put([entry])
            self._cond.notify_all()
            return future

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Waits until every update written so far has its ack; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._ledger.pending, timeout)

    def close(self, timeout: Optional[float] = 10.0) -> None:
        """Waits up to `timeout` for outstanding acks, then ends the stream. Updates still
        unacknowledged fail with StreamFailed(CANCELLED)."""
        self.flush(timeout)
        with self._cond:
            self._closing = True
            if self._requests is not None:
                self._requests.put(None)  # half-close: the sidecar acks what it has, then ends the stream
            if self._ledger.pending and self._call is not None:
                self._call.cancel()
            self._cond.notify_all()
        self._thread.join(timeout)
        with self._cond:
            self._cancel_resend()
            failed = self._ledger.take_pending()
            self._cond.notify_all()
        _fail(failed, StreamFailed(grpc.StatusCode.CANCELLED, "the update stream was closed"))

    # -- the stream thread ------------------------------------------------------------

    def _run(self) -> None:
        attempt = 0
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._closing or self._ledger.pending)
                if self._closing:
                    return
                requests: "queue.Queue[Optional[pb.SessionUpdate]]" = queue.Queue()
                self._requests = requests
                self._put(self._ledger.open_stream())
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
                self._cancel_resend()
                failed = self._ledger.end_stream(code, batching is not None)
                if falls_back(code, batching is not None):
                    # The next turn of the loop re-sends them on StreamUpdates.
                    log.info("the sidecar has no StreamUpdateBatches; using StreamUpdates")
                    self._batching = None
                    continue
                unacked = len(self._ledger.pending)
                self._cond.notify_all()
            _fail(failed, StreamFailed(code, details))
            if unacked or code != grpc.StatusCode.OK:
                log.info("update stream ended: %s %s; %d updates to re-send", code.name, details, unacked)
            if self._on_disconnect:
                _call_back(self._on_disconnect, code, details, unacked)
            if unacked:
                delay = backoff_delay(self._delays, attempt)
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

    def _put(self, entries: List[Entry]) -> None:
        """Sends, in order, updates the ledger put in flight (under the lock)."""
        assert self._requests is not None or not entries
        for entry in entries:
            self._requests.put(entry.update)  # type: ignore[union-attr]

    def _on_acks(self, acks: Iterable[pb.UpdateAck]) -> None:
        """Settles the updates of one response's acks, taking the lock once for all of them."""
        with self._cond:
            settled = self._ledger.settle(acks)
            self._put(settled.resend)
            if settled.hold_delay is not None:
                self._set_resend_timer(settled.hold_delay)
            self._cond.notify_all()
        # Callbacks and futures run user code: never under the lock. The callbacks
        # first, so that whoever waits on a refused future sees their effects.
        for stop in settled.stops:
            callback = self._callbacks.get(stop.reason)
            if callback:
                _call_back(callback, stop)
        for entry, outcome in settled.done:
            _settle(entry, outcome)

    def _resend_expired(self, stream_id: int) -> None:
        """The resend timer of the stream `stream_id`."""
        with self._cond:
            resend, next_delay = self._ledger.expire(stream_id)
            self._put(resend)
            if next_delay is not None:
                self._set_resend_timer(next_delay)

    def _set_resend_timer(self, delay: float) -> None:
        """One timer per stream, for the held session due first (under the lock)."""
        self._cancel_resend()
        self._resend_timer = threading.Timer(delay, self._resend_expired, (self._ledger.stream_id,))
        self._resend_timer.daemon = True
        self._resend_timer.start()

    def _cancel_resend(self) -> None:
        if self._resend_timer is not None:
            self._resend_timer.cancel()
            self._resend_timer = None


def check_options(max_unacked: int, batching: Optional[Batching]) -> None:
    """The constructor checks both UpdateStreams make."""
    if max_unacked < 1:
        raise ValueError(f"max_unacked must be >= 1, got {max_unacked}")
    if batching is not None and not isinstance(batching, Batching):
        raise TypeError(f"batching must be a Batching or None, got {batching!r}")


def _call_back(callback: Callable[..., Any], *args: Any) -> None:
    """A callback that raises is logged: it must not stop the stream for every other call."""
    try:
        callback(*args)
    except Exception:
        log.exception("update stream callback %r raised", callback)


def _settle(entry: Entry, outcome: Outcome) -> None:
    if isinstance(outcome, Exception):
        entry.future.set_exception(outcome)
    else:
        entry.future.set_result(outcome)


def _fail(entries: List[Entry], error: Exception) -> None:
    for entry in entries:
        entry.future.set_exception(error)


def _until_end(requests: "queue.Queue[Optional[pb.SessionUpdate]]") -> Iterator[pb.SessionUpdate]:
    """The requests of a StreamUpdates call: each queued update, until None."""
    while True:
        update = requests.get()
        if update is None:
            return
        yield update
