"""Batching: how UpdateStream coalesces writes into StreamUpdateBatches requests."""

from __future__ import annotations

import queue
import time
from dataclasses import dataclass
from typing import Any, Iterator, List, Optional

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


# The next request's first update is still to be taken from the queue.
_TAKE: Any = object()


def batch_requests(updates: "queue.Queue[Optional[pb.SessionUpdate]]", batching: Batching) -> Iterator[pb.StreamUpdateBatchesRequest]:
    """The requests of a StreamUpdateBatches call: the queued updates, in order, gathered
    for up to linger_ms after the first of each request or until it is full. None in the
    queue ends the call once what came before it is sent.

    gRPC takes the next request only once the previous one is written, so while the
    sidecar or the network is slow, updates gather into fuller requests by themselves."""
    linger = batching.linger_ms / 1000
    first = updates.get()
    while first is not None:
        batch: List[pb.SessionUpdate] = [first]
        size = first.ByteSize()
        deadline = time.monotonic() + linger
        first = _TAKE
        while len(batch) < batching.max_updates and size < batching.max_bytes:
            try:
                update = updates.get(timeout=max(0.0, deadline - time.monotonic())) if linger else updates.get_nowait()
            except queue.Empty:
                break
            if update is None:
                first = None
                break
            update_size = update.ByteSize()
            if size + update_size > batching.max_bytes:
                first = update  # it opens the next request rather than push this one past max_bytes
                break
            batch.append(update)
            size += update_size
        yield pb.StreamUpdateBatchesRequest(updates=batch)
        if first is _TAKE:
            first = updates.get()
