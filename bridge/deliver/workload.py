"""The sender's batches in flight and its progress, for back-pressure and liveness."""

from __future__ import annotations

import threading
import time

from bridge.ops.metrics import Metrics


class Workload:
    """Counts batches handed over and not yet finished (``bridge_requests_in_flight``) and
    when the sender last made progress. Thread-safe."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.count = 0
        self._lock = threading.Lock()
        self._progress_at = time.monotonic()

    def add(self) -> None:
        """One more batch in flight."""
        with self._lock:
            self.count += 1
        self.metrics.requests_in_flight.inc()

    def done(self) -> None:
        """One batch fewer in flight (finished, or replaced by its halves)."""
        with self._lock:
            self.count -= 1
        self.metrics.requests_in_flight.dec()

    def progress(self, planned_wait_s: float = 0.0) -> None:
        """The sender made progress now, or starts a deliberate wait of this length."""
        self._progress_at = max(self._progress_at, time.monotonic() + planned_wait_s)

    def stalled_for(self) -> float:
        """Seconds without progress while batches are in flight (0: none in flight)."""
        if self.count <= 0:
            return 0.0
        return max(0.0, time.monotonic() - self._progress_at)
