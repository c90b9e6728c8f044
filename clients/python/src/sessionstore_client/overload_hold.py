"""OverloadHold: the sessions UpdateStream holds back after an OVERLOADED ack, and when it resends them."""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Tuple

from .backoff import backoff_delay

# The pause before a resend grows from 200 ms to 5 s while the sidecar keeps refusing.
DEFAULT_BACKOFF = (0.2, 5.0)


class OverloadHold:
    """The sessions of the open stream with an update the sidecar refused as OVERLOADED.

    The sidecar refuses a session's later updates on that stream too, until it gets one
    of the session's updates with a seq no greater than the refused one. So a held
    session's unsent updates (those refused, and writes made since, which would only be
    refused as well) wait, and go again together, in write order, once both:

    - the resend delay has passed: the longer of the sidecar's RetryInfo delay and a
      backoff that doubles while the sidecar keeps refusing and starts over after an
      update is acknowledged; one delay covers every session held before it passes;
    - every update of the session already sent on the stream has its ack. They will all
      be refused; resending before the last of those acks came would let a write made
      after the resend be applied ahead of that update, whose own resend would then be
      acknowledged as a duplicate without being applied.

    Not thread-safe: UpdateLedger keeps it, under UpdateStream's lock or on the asyncio stream's loop."""

    def __init__(self, backoff: Tuple[float, float] = DEFAULT_BACKOFF) -> None:
        self._backoff = backoff
        self._attempt = 0
        # Held sessions, each with whether its resend delay has passed.
        self._due: Dict[str, bool] = {}
        self._scheduled = False

    def holds(self, conversation_id: str) -> bool:
        return conversation_id in self._due

    def hold(self, conversation_id: str, retry_delay: float) -> Optional[float]:
        """Holds a session after an OVERLOADED ack with this RetryInfo delay (seconds).
        Returns the delay after which to call expire(), unless a call is already due."""
        self._due.setdefault(conversation_id, False)
        if self._scheduled:
            return None
        self._scheduled = True
        backoff = backoff_delay(self._backoff, self._attempt)
        self._attempt += 1
        return max(retry_delay, backoff)

    def expire(self) -> None:
        """The delay has passed: every session held so far may be resent."""
        self._scheduled = False
        for conversation_id in self._due:
            self._due[conversation_id] = True

    def release_ready(self, in_flight: Callable[[str], bool]) -> List[str]:
        """Stops holding, and returns, the sessions due for their resend with nothing in flight."""
        ready = [cid for cid, due in self._due.items() if due and not in_flight(cid)]
        for conversation_id in ready:
            del self._due[conversation_id]
        return ready

    def acknowledged(self) -> None:
        """An update was acknowledged: the next hold waits the shortest backoff again."""
        self._attempt = 0

    def clear(self) -> None:
        """A new stream replays every unacknowledged update: nothing is held on it."""
        self._due.clear()
        self._scheduled = False
