"""The only per-user state the server keeps: each tab's newest request number, so that a request
overtaken by a newer one from the same tab is answered at once without computing ("newest wins").

Bounded: entries expire after ``ttl`` seconds without a request, a tab that closes says goodbye
(``/api/bye``), and at most ``capacity`` tabs are remembered (the least recently seen go first). A tab's
goodbye leaves a marker, not counted as a live tab, so that a request of the closed tab that arrives
after its goodbye (a log p(x) still on its way) is answered at once and does not bring the tab back.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

GONE = 2**62  # the sequence number a tab's goodbye leaves: every later request of it is stale


class LatestRequests:
    """Thread-safe map: session id -> (newest sequence number, last seen time)."""

    def __init__(self, ttl: float = 600.0, capacity: int = 10_000):
        self.ttl, self.capacity = ttl, capacity
        self._seen: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._lock = threading.Lock()

    def is_stale(self, session: str, seq: int) -> bool:
        """Record ``seq`` for ``session``; True if a newer request from it was already seen."""
        now = time.monotonic()
        with self._lock:
            self._expire(now)
            newest, _ = self._seen.get(session, (-1, now))
            if seq < newest:
                return True
            self._seen[session] = (seq, now)
            self._seen.move_to_end(session)
            while len(self._seen) > self.capacity:
                self._seen.popitem(last=False)
            return False

    def forget(self, session: str) -> None:
        with self._lock:
            self._seen[session] = (GONE, time.monotonic())
            self._seen.move_to_end(session)
            while len(self._seen) > self.capacity:
                self._seen.popitem(last=False)

    def live(self) -> int:
        with self._lock:
            self._expire(time.monotonic())
            return sum(1 for seq, _ in self._seen.values() if seq != GONE)

    def _expire(self, now: float) -> None:
        while self._seen:
            session, (_, seen) = next(iter(self._seen.items()))
            if now - seen <= self.ttl:
                break
            self._seen.popitem(last=False)
