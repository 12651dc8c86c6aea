"""Pure checks of the benchmark helpers (no broker); `python -m bench --short` is the real smoke."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.__main__ import table
from bench.harness import Sample, steady_rate
from bench.profile import classify


def test_steady_rate_interpolates_both_ends() -> None:
    samples = [Sample(t, {"n": v}) for t, v in [(0, 0), (1, 0), (2, 100), (3, 300), (4, 400)]]
    rate, secs = steady_rate(samples, "n", 400)
    # first progress in (1, 2] -> midpoint 1.5; total reached exactly at t=4
    assert secs == pytest.approx(2.5)
    assert rate == pytest.approx(160)


def test_steady_rate_never_reached() -> None:
    samples = [Sample(t, {"n": 10 * t}) for t in range(3)]
    assert steady_rate(samples, "n", 1000) == (0.0, 0.0)


def test_cpu_is_measured_over_the_steady_phase_only() -> None:
    """Start-up and the idle tail must not dilute the cores (and so CPU per event)."""
    from bench.scenarios import _cpu_cores

    pts = [(0, 0, 0.0), (1, 0, 0.5), (2, 100, 1.5), (3, 300, 2.5), (4, 400, 3.5), (9, 400, 3.6)]
    samples = [Sample(t, {"n": n, "cpu_s_0": c}) for t, n, c in pts]
    # steady phase 1.5 .. 4.0 s: CPU 1.0 -> 3.5 = 1 core; over all samples it would be 0.4
    assert _cpu_cores(samples, key="n", total=400) == pytest.approx(1.0)
    assert _cpu_cores(samples) == pytest.approx(0.4)


def test_classify_innermost_stage_wins() -> None:
    stack = (
        "run (bridge/pipeline.py:140);_handle (bridge/pipeline.py:200);"
        "inc (prometheus_client/metrics.py:300)"
    )
    assert classify(stack) == "metrics"
    assert classify("run (bridge/pipeline.py:140)") == "kafka"
    assert classify("_deliver (bridge/deliver/sender.py:1);post (httpx/_client.py:2)") == "deliver"


def test_table_marks_missed_targets_and_errors() -> None:
    rows = [
        {
            "metric": "events/s",
            "bridge": 10.0,
            "baseline": 20.0,
            "ratio": 0.5,
            "target": "≥ 50 %",
            "met": False,
            "note": "",
        }
    ]
    txt = table([{"scenario": "s", "rows": rows}, {"scenario": "x", "rows": [], "error": "boom"}])
    assert "**no**" in txt and "50 %" in txt and "ERROR: boom" in txt


def test_cpu_per_event_counts_only_the_events_inside_the_steady_window() -> None:
    """The first sample already counts 100 of 400 events: the window (0..2 s) holds 300 of
    them and 2 CPU-seconds, 6,667 us each (dividing by all 400 said 5,000)."""
    from bench.scenarios import cpu_us_per_event

    pts = [(0, 100, 1.0), (1, 200, 2.0), (2, 400, 3.0)]
    samples = [Sample(t, {"n": n, "cpu_s_0": c}) for t, n, c in pts]
    assert cpu_us_per_event(samples, "n", 400) == pytest.approx(2 / 300 * 1e6)


def test_bridge_tree_must_be_a_checkout(tmp_path: Path) -> None:
    from bench.__main__ import main

    with pytest.raises(SystemExit) as exc:
        main(["--bridge-tree", str(tmp_path), "--only", "filter"])
    assert exc.value.code == 2
