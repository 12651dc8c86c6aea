"""The dead-letter circuit breaker's sliding window."""

from __future__ import annotations

from collections import deque


class CircuitBreaker:
    """Opens when the dead-letter share over a sliding window exceeds a threshold."""

    def __init__(self, window_s: float, min_events: int, max_ratio: float) -> None:
        self.window_s = window_s
        self.min_events = min_events
        self.max_ratio = max_ratio
        self._buckets: deque[list[float]] = deque()  # [second, finals, dead]
        self.finals = 0
        self.dead = 0

    def record(self, now: float, dead: bool, n: int = 1) -> None:
        """``n`` events became final (``dead``: dead-lettered) at ``now``."""
        sec = float(int(now))
        if not self._buckets or self._buckets[-1][0] != sec:
            self._buckets.append([sec, 0, 0])
        b = self._buckets[-1]
        b[1] += n
        self.finals += n
        if dead:
            b[2] += n
            self.dead += n
        limit = now - self.window_s
        while self._buckets and self._buckets[0][0] < limit:
            old = self._buckets.popleft()
            self.finals -= int(old[1])
            self.dead -= int(old[2])

    def tripped(self) -> bool:
        return self.finals >= self.min_events and self.dead / self.finals > self.max_ratio

    def reset(self) -> None:
        self._buckets.clear()
        self.finals = self.dead = 0
