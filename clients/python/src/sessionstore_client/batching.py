"""Batching: how UpdateStream coalesces writes into StreamUpdateBatches requests."""

from __future__ import annotations

import queue
import time
from dataclasses import dataclass
from typing import Iterator, List, Optional

from sessionstore.v1 import session_store_pb2 as pb


@dataclass(frozen=True)
class Batching:
    """How UpdateStream coalesces writes into StreamUpdateBatches requests. Each update
    still has its own seq, ack and error; only the messages carrying them are shared.

    linger_ms: how long the first update of a request may wait for others to share it.
        0 sends at once whatever is already queued. Default 2 ms: well below a 20 ms
        audio frame, and enough for a bridge with a few hundred calls to send a few dozen
        updates a request.
    max_updates: updates in one request at most. Default 500.
    max_bytes: encoded updates in one request at most, well below the sidecar's 4 MiB
        default message limit; a single larger update still goes, alone. Default 1 MiB.
    """

    linger_ms: float = 2.0
    max_updates: int = 500
    max_bytes: int = 1 << 20

    def __post_init__(self) -> None:
        if not (self.linger_ms >= 0 and isinstance(self.max_updates, int) and self.max_updates >= 1 and self.max_bytes > 0):
            raise ValueError(f"batching needs linger_ms >= 0, an integer max_updates >= 1 and max_bytes > 0, got {self}")


class BatchBuilder:
    """One StreamUpdateBatches request being gathered: the rule of what fits, shared by the
    threaded (batch_requests) and the asyncio (aio.UpdateStream) request writers."""

    def __init__(self, batching: Batching, first: pb.SessionUpdate) -> None:
        self._batching = batching
        self._updates: List[pb.SessionUpdate] = [first]
        self._size = first.ByteSize()

    def full(self) -> bool:
        return len(self._updates) >= self._batching.max_updates or self._size >= self._batching.max_bytes

    def offer(self, update: pb.SessionUpdate) -> bool:
        """Adds the update, unless it would push the request past max_bytes: it then opens the next."""
        size = update.ByteSize()
        if self._size + size > self._batching.max_bytes:
            return False
        self._updates.append(update)
        self._size += size
        return True

    def request(self) -> pb.StreamUpdateBatchesRequest:
        return pb.StreamUpdateBatchesRequest(updates=self._updates)


def batch_requests(updates: "queue.Queue[Optional[pb.SessionUpdate]]", batching: Batching) -> Iterator[pb.StreamUpdateBatchesRequest]:
    """The requests of a StreamUpdateBatches call: the queued updates, in order, gathered
    for up to linger_ms after the first of each request or until it is full. None in the
    queue ends the call once what came before it is sent.

    gRPC takes the next request only once the previous one is written, so while the
    sidecar or the network is slow, updates gather into fuller requests by themselves."""
    linger = batching.linger_ms / 1000
    first = updates.get()
    while first is not None:
        batch = BatchBuilder(batching, first)
        deadline = time.monotonic() + linger
        first = None
        ended = False
        while not batch.full():
            try:
                update = updates.get(timeout=max(0.0, deadline - time.monotonic())) if linger else updates.get_nowait()
            except queue.Empty:
                break
            if update is None:
                ended = True
                break
            if not batch.offer(update):
                first = update
                break
        yield batch.request()
        if first is None and not ended:
            first = updates.get()
