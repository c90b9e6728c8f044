"""UpdateStream on grpc.aio: a bridge's writes for all its calls on one update stream, on one event loop.

docs/UPDATE-STREAM-PROTOCOL.md says what makes the stream safe to lose. The bookkeeping
is sessionstore_client.UpdateLedger, the same as the threaded UpdateStream's, so the two
number, replay, fence, hold and batch alike; this module runs the stream as a task,
reconnecting with backoff, and resolves asyncio futures with the acks. Nothing here
blocks the loop: waiting for an ack, for room under max_unacked, for a reconnect or for
a batch to fill all await.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable, List, Optional, Sequence, Tuple, Union

import grpc
import grpc.aio

from sessionstore.v1 import session_store_pb2 as pb
from sessionstore.v1.session_store_pb2_grpc import SessionStoreServiceStub

from ..backoff import backoff_delay
from ..batching import Batching
from ..update_errors import Stats, StopInfo, StreamFailed
from ..update_ledger import Entry, UpdateLedger, falls_back
from ..update_stream import check_options
from .batch_requests import batch_requests
from .changes import Changes

log = logging.getLogger(__name__)

# on_fenced / on_ended / on_disconnect: plain functions or coroutine functions (awaited).
StopCallback = Callable[[StopInfo], Union[None, Awaitable[None]]]
DisconnectCallback = Callable[[grpc.StatusCode, str, int], Union[None, Awaitable[None]]]


class UpdateStream:
    """One update stream for a bridge process's event loop; make it in a coroutine and use
    `async with`, or `await close()`. The arguments are those of the threaded
    sessionstore_client.UpdateStream, and so are the outcomes: write() returns the UpdateAck
    once the update is durable, or raises UpdateRefused / SessionStopped / StreamFailed; an
    OVERLOADED refusal raises none (the update is sent again until it is durable).

    send() queues an update and returns the future of its ack without waiting for it, for
    a loop that must not wait a commit per frame. Cancelling a write() does not unsend its
    update: its seq is taken, and it is replayed like any other until acknowledged.

    Callbacks (on_fenced, on_ended, on_disconnect) may be plain functions or coroutine
    functions; the stream awaits them before it settles the refused update, so that whoever
    awaits it sees their effects. One that raises is logged and the stream goes on."""

    def __init__(
        self,
        stub: SessionStoreServiceStub,
        *,
        metadata: Sequence[Tuple[str, str]] = (),
        max_unacked: int = 5000,
        batching: Optional[Batching] = Batching(),
        reconnect_delay: Tuple[float, float] = (0.05, 2.0),
        on_fenced: Optional[StopCallback] = None,
        on_ended: Optional[StopCallback] = None,
        on_disconnect: Optional[DisconnectCallback] = None,
    ) -> None:
        check_options(max_unacked, batching)
        self._loop = asyncio.get_running_loop()  # RuntimeError outside a coroutine: the stream lives on one loop
        self._stub = stub
        self._metadata = tuple(metadata)
        self._max_unacked = max_unacked
        self._batching = batching
        self._delays = reconnect_delay
        self._callbacks = {"SESSION_FENCED": on_fenced, "SESSION_ENDED": on_ended}
        self._on_disconnect = on_disconnect
        self._changes = Changes()
        self._ledger = UpdateLedger()
        # What the open stream's request writer sends; None ends the stream.
        self._requests: Optional["asyncio.Queue[Optional[pb.SessionUpdate]]"] = None
        self._resend_timer: Optional[asyncio.TimerHandle] = None
        self._closing = False
        self._task = self._loop.create_task(self._run(), name="sessionstore-update-stream")

    async def __aenter__(self) -> "UpdateStream":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def stats(self) -> Stats:
        return Stats(**vars(self._ledger.stats))

    @property
    def unacked(self) -> int:
        return len(self._ledger.pending)

    def track(self, session: pb.Session) -> None:
        """Starts (or restarts, after this bridge resumed the call again) writing for a
        session, from the Session that CreateSession or ResumeSession returned."""
        self._ledger.track(session)

    def stopped(self, conversation_id: str) -> Optional[str]:
        """SESSION_FENCED or SESSION_ENDED once the session stopped taking writes, else None."""
        return self._ledger.stopped(conversation_id)

    async def write(
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
    ) -> pb.UpdateAck:
        """Writes one update of a tracked session, as send() does, and returns its UpdateAck
        once it is durable. `timeout` bounds the wait for room under max_unacked only."""
        ack = await self.send(
            conversation_id,
            update_mask=update_mask,
            session=session,
            append_history=append_history,
            upsert_function_calls=upsert_function_calls,
            append_audio=append_audio,
            etag=etag,
            timeout=timeout,
        )
        # shield: a cancelled write leaves the ack's future to the stream, which settles it.
        return await asyncio.shield(ack)

    async def send(
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
    ) -> "asyncio.Future[pb.UpdateAck]":
        """Queues one update of a tracked session with its next seq and owner_epoch, and
        returns the future of its ack. Waits while max_unacked updates wait for acks
        (TimeoutError after `timeout`). Raises SessionStopped once the session was fenced
        or ended."""
        self._ledger.require_tracked(conversation_id)
        if not await self._changes.wait_for(lambda: self._closing or len(self._ledger.pending) < self._max_unacked, timeout):
            raise TimeoutError(f"{self._max_unacked} updates still wait for acks")
        if self._closing:
            raise RuntimeError("the update stream is closed")
        future: "asyncio.Future[pb.UpdateAck]" = self._loop.create_future()
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
        self._changes.notify()
        return future

    async def flush(self, timeout: Optional[float] = None) -> bool:
        """Waits until every update written so far has its ack; False on timeout."""
        return await self._changes.wait_for(lambda: not self._ledger.pending, timeout)

    async def close(self, timeout: Optional[float] = 10.0) -> None:
        """Waits up to `timeout` for outstanding acks, then ends the stream. Updates still
        unacknowledged fail with StreamFailed(CANCELLED)."""
        await self.flush(timeout)
        self._closing = True
        if self._requests is not None:
            self._requests.put_nowait(None)  # half-close: the sidecar acks what it has, then ends the stream
        if self._ledger.pending:
            self._task.cancel()  # it cancels the call on its way out
        self._changes.notify()
        done, _ = await asyncio.wait({self._task}, timeout=timeout)
        if not done:
            self._task.cancel()
            await asyncio.wait({self._task})
        self._cancel_resend()
        self._fail(self._ledger.take_pending(), StreamFailed(grpc.StatusCode.CANCELLED, "the update stream was closed"))
        self._changes.notify()

    # -- the stream task --------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        while True:
            await self._changes.wait_for(lambda: self._closing or self._ledger.pending)
            if self._closing:
                return
            self._requests = requests = asyncio.Queue()
            self._put(self._ledger.open_stream())
            batching = self._batching
            call = self._open(requests, batching)
            code, details = grpc.StatusCode.OK, ""
            try:
                async for response in call:
                    attempt = 0  # the sidecar answers: the next break starts the backoff afresh
                    await self._on_acks(response.acks if batching is not None else (response,))
            except grpc.aio.AioRpcError as err:
                code, details = err.code(), err.details() or ""
            finally:
                # Closing with updates unacknowledged cancels this task; the call goes with it.
                call.cancel()
                requests.put_nowait(None)  # lets gRPC's request writer finish
                self._requests = None
                self._cancel_resend()
            failed = self._ledger.end_stream(code, batching is not None)
            if falls_back(code, batching is not None):
                log.info("the sidecar has no StreamUpdateBatches; using StreamUpdates")
                self._batching = None
                continue
            unacked = len(self._ledger.pending)
            self._fail(failed, StreamFailed(code, details))
            self._changes.notify()
            if unacked or code != grpc.StatusCode.OK:
                log.info("update stream ended: %s %s; %d updates to re-send", code.name, details, unacked)
            if self._on_disconnect:
                await _call_back(self._on_disconnect, code, details, unacked)
            if unacked:
                delay = backoff_delay(self._delays, attempt)
                attempt += 1
                await self._changes.wait_for(lambda: self._closing, delay)

    def _open(self, requests: "asyncio.Queue[Optional[pb.SessionUpdate]]", batching: Optional[Batching]) -> Any:
        """Starts a call of the RPC in use, sending what is queued on `requests`."""
        if batching is None:
            return self._stub.StreamUpdates(_until_end(requests), metadata=self._metadata)
        return self._stub.StreamUpdateBatches(batch_requests(requests, batching), metadata=self._metadata)

    def _put(self, entries: List[Entry]) -> None:
        """Sends, in order, updates the ledger put in flight."""
        for entry in entries:
            self._requests.put_nowait(entry.update)  # type: ignore[union-attr]

    async def _on_acks(self, acks: Iterable[pb.UpdateAck]) -> None:
        settled = self._ledger.settle(acks)
        self._put(settled.resend)
        if settled.hold_delay is not None:
            self._set_resend_timer(settled.hold_delay)
        self._changes.notify()
        # The callbacks first, so that whoever awaits a refused update sees their effects.
        for stop in settled.stops:
            callback = self._callbacks.get(stop.reason)
            if callback:
                await _call_back(callback, stop)
        for entry, outcome in settled.done:
            if entry.future.done():
                continue  # only a stream closed meanwhile (its outcome is already set) gets here
            if isinstance(outcome, Exception):
                entry.future.set_exception(outcome)
            else:
                entry.future.set_result(outcome)

    def _resend_expired(self, stream_id: int) -> None:
        resend, next_delay = self._ledger.expire(stream_id)
        self._put(resend)
        if next_delay is not None:
            self._set_resend_timer(next_delay)

    def _set_resend_timer(self, delay: float) -> None:
        """One timer per stream, for the held session due first."""
        self._cancel_resend()
        self._resend_timer = self._loop.call_later(delay, self._resend_expired, self._ledger.stream_id)

    def _cancel_resend(self) -> None:
        if self._resend_timer is not None:
            self._resend_timer.cancel()
            self._resend_timer = None

    @staticmethod
    def _fail(entries: List[Entry], error: Exception) -> None:
        for entry in entries:
            if not entry.future.done():
                entry.future.set_exception(error)


async def _call_back(callback: Callable[..., Any], *args: Any) -> None:
    """Runs a plain or coroutine callback; one that raises is logged, and the stream goes on."""
    try:
        result = callback(*args)
        if inspect.isawaitable(result):
            await result
    except Exception:
        log.exception("update stream callback %r raised", callback)


async def _until_end(requests: "asyncio.Queue[Optional[pb.SessionUpdate]]") -> AsyncIterator[pb.SessionUpdate]:
    """The requests of a StreamUpdates call: each queued update, until None."""
    while True:
        update = await requests.get()
        if update is None:
            return
        yield update
