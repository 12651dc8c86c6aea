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
        assert got[key] == pytest.approx(value, rel=1e-12), key


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
