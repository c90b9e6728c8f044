"""OverloadHold: the sessions UpdateStream holds back after an OVERLOADED ack, and when it resends them."""

from __future__ import annotations

import math
import random
import time
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

    - the session's own resend time has come: drawn when it is held, uniformly from
      [delay, 2·delay) after the refusal, where the delay is the longer of the sidecar's
      RetryInfo delay and a backoff that doubles while the sidecar keeps refusing and
      starts over after an update is acknowledged. One delay holds for every session
      refused before it passes; the draw is per session because a group the sidecar
      sheds refuses hundreds of sessions at once, and resending them all at one instant
      would be a burst that waits past the queue timeout and is shed again;
    - every update of the session already sent on the stream has its ack. They will all
      be refused; resending before the last of those acks came would let a write made
      after the resend be applied ahead of that update, whose own resend would then be
      acknowledged as a duplicate without being applied.

    The stream keeps one timer for it: hold() and expire() say when it should next fire.

    Not thread-safe: UpdateLedger keeps it, under UpdateStream's lock or on the asyncio stream's loop."""

    def __init__(
        self,
        backoff: Tuple[float, float] = DEFAULT_BACKOFF,
        clock: Callable[[], float] = time.monotonic,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self._backoff = backoff
        self._clock = clock
        self._draw = draw
        self._attempt = 0
        # Held sessions, each with its resend time (clock()).
        self._due_at: Dict[str, float] = {}
        # The delay of the sessions held until the round ends, when the next refusal draws the backoff again.
        self._round_delay = 0.0
        self._round_ends = -math.inf
        # When the stream's timer fires, if one is set.
        self._wake_at = math.inf

    def holds(self, conversation_id: str) -> bool:
        return conversation_id in self._due_at

    def hold(self, conversation_id: str, retry_delay: float) -> Optional[float]:
        """Holds a session after an OVERLOADED ack with this RetryInfo delay (seconds); a
        session already held keeps its time. Returns the delay after which to call expire()
        when the stream's timer must be (re)set to it, or None when the timer set stands."""
        if conversation_id in self._due_at:
            return None
        now = self._clock()
        if now >= self._round_ends:
            self._round_delay = backoff_delay(self._backoff, self._attempt)
            self._attempt += 1
            self._round_ends = now + self._round_delay
        at = now + max(retry_delay, self._round_delay) * (1 + self._draw())
        self._due_at[conversation_id] = at
        if at >= self._wake_at:
            return None
        self._wake_at = at
        return at - now

    def expire(self) -> Optional[float]:
        """The stream's timer fired. Returns the delay to the next resend time still to
        come, for the timer to be set again, or None when none is left."""
        now = self._clock()
        later = [at for at in self._due_at.values() if at > now]
        self._wake_at = min(later) if later else math.inf
        return self._wake_at - now if later else None

    def release_ready(self, in_flight: Callable[[str], bool]) -> List[str]:
        """Stops holding, and returns, the sessions whose resend time has come and that have nothing in flight."""
        now = self._clock()
        ready = [cid for cid, at in self._due_at.items() if at <= now and not in_flight(cid)]
        for conversation_id in ready:
            del self._due_at[conversation_id]
        return ready

    def acknowledged(self) -> None:
        """An update was acknowledged: the next hold waits the shortest backoff again."""
        self._attempt = 0

    def clear(self) -> None:
        """A new stream replays every unacknowledged update: nothing is held on it."""
        self._due_at.clear()
        self._round_ends = -math.inf
        self._wake_at = math.inf
