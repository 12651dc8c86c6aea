"""The schema-registry client's memory: the bounded negative cache and the unknown-id budget."""

from __future__ import annotations

import time

from bridge.decode.schema_cache import MISS_BURST_S, MISS_TIME_SHARE, MissBudget, NegativeCache


def test_an_unknown_id_is_remembered_for_its_ttl_only() -> None:
    remembered = NegativeCache(maxsize=10, ttl_s=3600)
    remembered.add(7, time.monotonic())
    assert 7 in remembered and 8 not in remembered

    expired = NegativeCache(maxsize=10, ttl_s=0)
    expired.add(7, time.monotonic())
    assert 7 not in expired  # the next lookup asks the registry again


def test_the_negative_cache_is_bounded_by_the_schema_cache_size() -> None:
    cache = NegativeCache(maxsize=2, ttl_s=3600)
    now = time.monotonic()
    for schema_id in (1, 2, 3):
        cache.add(schema_id, now)
    assert 1 not in cache and 2 in cache and 3 in cache


def test_misses_beyond_the_burst_are_deferred_for_the_overdraft() -> None:
    budget = MissBudget()
    budget.charge(0.1 * MISS_TIME_SHARE, time.monotonic())  # a 0.1 s debt: within the burst
    assert budget.overdrawn() is None
    budget.charge((MISS_BURST_S + 0.5) * MISS_TIME_SHARE, time.monotonic())
    wait = budget.overdrawn()
    assert wait is not None and 0.4 < wait <= 0.6
    assert (budget.misses, budget.throttled) == (2, 1)
