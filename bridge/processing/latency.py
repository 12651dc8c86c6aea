"""End-to-end latency of accepted items, observed once per request instead of once per item.

``bridge_event_latency_seconds`` counts every accepted item (Kafka timestamp to Braze's
answer). A prometheus-client ``Histogram`` has no weighted ``observe``: one call per item takes
three locks and walks the buckets in Python, a fifth of the match path's per-recipient cost.
:class:`LatencyObserver` puts a request's items into their buckets with ``bisect`` and adds each
bucket's count and the sum once, which is what the same number of ``observe`` calls would have
recorded (the sum up to float rounding order). It uses the histogram child's value cells; a
prometheus-client without them gets one ``observe`` per item.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from typing import Any


class LatencyObserver:
    """Observes the latency of groups of items of one rule into a labelled ``Histogram``."""

    def __init__(self, histogram: Any) -> None:
        self.histogram = histogram
        self._children: dict[str, Any] = {}

    def observe(self, rule: str, timestamps_ms: Iterable[int], now_s: float) -> None:
        """Observe ``now_s`` minus each Kafka timestamp (ms) for ``rule``; timestamps of 0 or
        below (records without one) are not observed, a negative latency counts as 0."""
        child = self._children.get(rule)
        if child is None:
            child = self._children[rule] = self.histogram.labels(rule)
        bounds = getattr(child, "_upper_bounds", None)
        buckets = getattr(child, "_buckets", None)
        total_cell = getattr(child, "_sum", None)
        if bounds is None or buckets is None or total_cell is None:
            for ts in timestamps_ms:
                if ts > 0:
                    child.observe(max(now_s - ts / 1000.0, 0.0))
            return
        counts = [0] * len(bounds)
        total = 0.0
        for ts in timestamps_ms:
            if ts <= 0:
                continue
            v = now_s - ts / 1000.0
            if v < 0.0:
                v = 0.0
            total += v
            counts[bisect_left(bounds, v)] += 1  # the first bucket with v <= its bound
        if not any(counts):
            return
        total_cell.inc(total)
        for i, n in enumerate(counts):
            if n:
                buckets[i].inc(n)
