"""The latency histogram observed once per request records what one observe per item would."""

from __future__ import annotations

import random
from typing import Any

import pytest

from bridge.ops.metrics import Metrics
from bridge.processing.latency import LatencyObserver

NOW = 1_700_000_000.0


def samples(m: Metrics, rule: str) -> dict[tuple[str, str], float]:
    out = {}
    for metric in m.registry.collect():
        if metric.name == "bridge_event_latency_seconds":
            for s in metric.samples:
                if s.labels.get("rule") == rule:
                    out[(s.name, s.labels.get("le", ""))] = s.value
    return out


def stamps(seed: int, n: int) -> list[int]:
    rnd = random.Random(seed)
    out = [int((NOW - rnd.choice([0.001, 0.3, 2.5, 4.0, 61.0, 900.0, 1e5])) * 1000)]
    out += [int((NOW - rnd.expovariate(0.5)) * 1000) for _ in range(n)]
    return out + [0, -5, int((NOW + 3) * 1000)]  # no timestamp (twice), a clock ahead of ours


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_group_observes_exactly_what_one_observe_per_item_does(seed: int) -> None:
    grouped, single = Metrics(), Metrics()
    ts = stamps(seed, 200)
    observer = LatencyObserver(grouped.event_latency)
    for chunk in (ts[:50], ts[50:120], ts[120:]):
        observer.observe("shipped", chunk, NOW)
    for t in ts:
        single.event_accepted("shipped", t, NOW)
    got, want = samples(grouped, "shipped"), samples(single, "shipped")
    assert got.keys() == want.keys()
    assert got[("bridge_event_latency_seconds_count", "")] == len(ts) - 2
    for key, value in want.items():
        if not key[0].endswith(("_sum", "_created")):
            assert got[key] == value, key  # buckets and count: exact
    # the sum up to float rounding (each item's now - ts/1000 rounds to ~2e-7 s)
    key = ("bridge_event_latency_seconds_sum", "")
    assert got[key] == pytest.approx(want[key], rel=1e-9, abs=1e-6 * len(ts))


def test_a_request_within_one_bucket_counts_every_item_there() -> None:
    """The one-bucket shortcut: 50 items 120-170 ms old all land in le=0.25 (and above)."""
    grouped, single = Metrics(), Metrics()
    ts = [int((NOW - 0.17) * 1000) + i for i in range(50)]
    LatencyObserver(grouped.event_latency).observe("r", ts, NOW)
    for t in ts:
        single.event_accepted("r", t, NOW)
    got, want = samples(grouped, "r"), samples(single, "r")
    exact = ("_bucket", "_count")
    assert {k: v for k, v in got.items() if k[0].endswith(exact)} == {
        k: v for k, v in want.items() if k[0].endswith(exact)
    }
    assert got[("bridge_event_latency_seconds_count", "")] == 50
    assert got[("bridge_event_latency_seconds_bucket", "0.1")] == 0
    assert got[("bridge_event_latency_seconds_bucket", "0.25")] == 50
    key = ("bridge_event_latency_seconds_sum", "")
    assert got[key] == pytest.approx(want[key], abs=1e-6 * 50)  # 1 us per item at most


def test_without_the_histograms_value_cells_each_item_is_observed() -> None:
    seen: list[float] = []

    class Child:
        def observe(self, v: float) -> None:
            seen.append(v)

    class Hist:
        def labels(self, _rule: str) -> Any:
            return Child()

    LatencyObserver(Hist()).observe("r", [int((NOW - 2) * 1000), 0, int((NOW + 1) * 1000)], NOW)
    assert seen == [pytest.approx(2.0), 0.0]
