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
from collections.abc import Sequence
from typing import Any


class LatencyObserver:
    """Observes the latency of groups of items of one rule into a labelled ``Histogram``."""

    def __init__(self, histogram: Any) -> None:
        self.histogram = histogram
        self._children: dict[str, Any] = {}

    def observe(self, rule: str, timestamps_ms: Sequence[int], now_s: float) -> None:
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
        if _one_bucket(timestamps_ms, now_s, bounds, buckets, total_cell):
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


def _one_bucket(ts: Sequence[int], now_s: float, bounds: Any, buckets: Any, total: Any) -> bool:
    """The common case, in C: every item of the request has a timestamp and all latencies
    fall into one bucket (items of a request are consumed close together). Latency falls as
    the timestamp rises, so the newest and the oldest item bound them all. The sum is the
    oldest item's latency times n less the (exact, integer) milliseconds the others are
    newer: the items' sum up to float rounding (each item's ``now - ts / 1000`` already
    rounds to about 2e-7 s)."""
    if not ts:
        return True
    lo, hi = min(ts), max(ts)
    if lo <= 0:
        return False
    newest, oldest = now_s - hi / 1000.0, now_s - lo / 1000.0
    if newest < 0.0:
        return False
    i = bisect_left(bounds, newest)
    if i != bisect_left(bounds, oldest):
        return False
    n = len(ts)
    total.inc(n * oldest - (sum(ts) - n * lo) / 1000.0)  # the integer part exact
    buckets[i].inc(len(ts))
    return True
