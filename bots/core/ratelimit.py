"""A per-portal request rate limit: evenly spaced permits, shared by every page of a portal."""

from __future__ import annotations

import asyncio
import time


class RateLimiter:
    """At most `per_minute` permits a minute, spaced evenly (no bursts: portals count bursts)."""

    def __init__(self, per_minute: float) -> None:
        self.interval = 60.0 / per_minute
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        # Sleep holding the lock and count the interval from the grant itself: a waiter woken
        # late (a busy loop) must not let the next one through right behind it.
        async with self._lock:
            delay = self._next - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self._next = time.monotonic() + self.interval
