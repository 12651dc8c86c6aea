"""What the schema-registry client remembers between lookups, and how much time it may spend.

* :class:`LruCache`: schemas by id (ids are immutable in the registry: entries never expire);
* :class:`NegativeCache`: ids the registry answered "not found" for, remembered only for a
  TTL, so a burst of records with one unknown id costs one request, yet a schema that
  appears later (registry replication lag) is picked up; bounded like the schema cache;
* :class:`MissBudget`: lookups that end "not found" may use at most :data:`MISS_TIME_SHARE`
  of wall time (after a :data:`MISS_BURST_S` burst), D11; beyond that uncached ids are
  answered as transient, so records with random schema ids on one topic cannot delay
  another topic's events (each lookup is a synchronous round trip on the poll thread).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

MISS_TIME_SHARE = 0.2  # share of wall time lookups of unknown ids may take
MISS_BURST_S = 1.0  # budget debt allowed before lookups are deferred
NEGATIVE_CACHE_MAX = 1024  # unknown ids remembered at most (fewer if the schema cache is smaller)


class LruCache(Generic[K, V]):
    """A small thread-safe LRU map."""

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be >= 1")
        self._maxsize = maxsize
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            try:
                value = self._data[key]
            except KeyError:
                return None
            self._data.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self._maxsize:
                self._data.popitem(last=False)

    def pop(self, key: K) -> None:
        with self._lock:
            self._data.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)


class NegativeCache:
    """Schema ids recently answered "not found", each remembered for ``ttl_s`` seconds."""

    def __init__(self, maxsize: int, ttl_s: float) -> None:
        self._missed_at: LruCache[int, float] = LruCache(min(maxsize, NEGATIVE_CACHE_MAX))
        self._ttl_s = ttl_s

    def __contains__(self, schema_id: int) -> bool:
        """Whether ``schema_id`` was not found less than the TTL ago (an expired entry is
        dropped, so the next lookup asks the registry again)."""
        missed_at = self._missed_at.get(schema_id)
        if missed_at is None:
            return False
        if time.monotonic() - missed_at < self._ttl_s:
            return True
        self._missed_at.pop(schema_id)
        return False

    def add(self, schema_id: int, now: float) -> None:
        self._missed_at.put(schema_id, now)


class MissBudget:
    """The time-share budget of lookups that end "not found" (a leaky bucket of debt)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._debt = 0.0
        self._debt_at = time.monotonic()
        self.misses = 0  # lookups answered "not found"
        self.throttled = 0  # lookups deferred by the budget

    def _decayed(self, now: float) -> float:
        debt = max(0.0, self._debt - (now - self._debt_at))
        self._debt, self._debt_at = debt, now
        return debt

    def charge(self, elapsed_s: float, now: float) -> None:
        """A lookup took ``elapsed_s`` and ended "not found"."""
        with self._lock:
            self._decayed(now)
            self._debt += max(elapsed_s, 0.001) / MISS_TIME_SHARE
            self.misses += 1

    def overdrawn(self) -> float | None:
        """Seconds until lookups may go out again if the budget is spent (counted as a
        throttled lookup), else ``None``."""
        with self._lock:
            debt = self._decayed(time.monotonic())
            if debt <= MISS_BURST_S:
                return None
            self.throttled += 1
            return debt - MISS_BURST_S
