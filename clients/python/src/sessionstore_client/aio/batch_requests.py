"""batch_requests: the asyncio writer of StreamUpdateBatches requests."""

from __future__ import annotations

import asyncio
from typing import AsyncIterator, Optional

from sessionstore.v1 import session_store_pb2 as pb

from ..batching import Batching, BatchBuilder


async def batch_requests(
    updates: "asyncio.Queue[Optional[pb.SessionUpdate]]", batching: Batching
) -> AsyncIterator[pb.StreamUpdateBatchesRequest]:
    """The threaded sessionstore_client.batching.batch_requests on an asyncio.Queue, with the
    same BatchBuilder: the queued updates, in order, gathered for up to linger_ms after the
    first of each request or until it is full; None ends the call once what came before it
    is sent. Lingering awaits, so the loop runs other calls meanwhile."""
    loop = asyncio.get_running_loop()
    linger = batching.linger_ms / 1000
    first = await updates.get()
    while first is not None:
        batch = BatchBuilder(batching, first)
        deadline = loop.time() + linger
        first = None
        ended = False
        while not batch.full():
            try:
                if linger:
                    update = await asyncio.wait_for(updates.get(), max(0.0, deadline - loop.time()))
                else:
                    update = updates.get_nowait()
            except (asyncio.TimeoutError, asyncio.QueueEmpty):
                break
            if update is None:
                ended = True
                break
            if not batch.offer(update):
                first = update
                break
        yield batch.request()
        if first is None and not ended:
            first = await updates.get()
