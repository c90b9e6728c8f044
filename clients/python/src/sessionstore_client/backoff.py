"""backoff_delay: the pause before the next try, shared by reconnects and OVERLOADED resends."""

from __future__ import annotations

import random
from typing import Tuple


def backoff_delay(bounds: Tuple[float, float], attempt: int) -> float:
    """`low` seconds doubled per attempt already made, at most `high`, with ±20 % jitter so
    that bridges which lost the same sidecar at once do not all come back at once."""
    low, high = bounds
    return min(high, low * 2**attempt) * random.uniform(0.8, 1.2)
