"""Changes: waiting on the event loop until a condition of the stream's state holds."""

from __future__ import annotations

import asyncio
from typing import Callable, Optional


class Changes:
    """What threading.Condition is to the threaded UpdateStream, for one event loop: whoever
    changes the state calls notify() (a plain call, so ack handling need not await), and
    whoever waits re-checks its predicate after each. No lock is needed, as only the loop's
    own thread touches the state, and a waiter that wakes to a true predicate acts before
    any other coroutine runs."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        # Wakes everyone waiting on the current event; later waits wait on a fresh one.
        self._event.set()
        self._event = asyncio.Event()

    async def wait_for(self, predicate: Callable[[], object], timeout: Optional[float] = None) -> bool:
        """Waits until predicate() is true; False if `timeout` seconds pass first."""
        if predicate():
            return True
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not predicate():
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._event.wait(), remaining)
            except asyncio.TimeoutError:
                return bool(predicate())
        return True
