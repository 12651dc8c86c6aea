"""A Braze budget scaled down to seconds and shared by bridge replicas: the set-up of
``test_rate_limit_sharing`` and ``test_budget_priorities``.

The sandbox's hourly pool becomes ``limit`` requests per ``window`` seconds (clock-aligned
windows, like Braze's hour). The bridges keep ``RESERVE`` of each window unused
(``delivery.pacing.reserve_fraction``) and settle on their partitions before a backlog is
produced, so what is measured is not mixed up with rebalancing.
"""

from __future__ import annotations

import time
from typing import Any

from tests.reliability.conftest import Procs
from tests.support.config import deep_merge
from tests.support.faults import (
    bridge_config,
    make_events,
    produce_events,
    readyz,
    wait_for,
    with_new_port,
)
from tests.support.procs import Bridge, Sandbox

RESERVE = 0.1
TRIGGER = "/campaigns/trigger/send"


def scaled_sandbox(procs: Procs, limit: int, window: int) -> Sandbox:
    """A sandbox whose hourly pool is ``limit`` requests per ``window`` seconds."""
    return procs.sandbox("--hourly-limit", str(limit), "--hourly-window-s", str(window))


def budget_config(
    bootstrap: str, sandbox: Sandbox, *, group: str, topic: str, dlq: str, **overrides: Any
) -> dict[str, Any]:
    """The suite's one-rule config with ``RESERVE`` kept back and a 2 s drain; ``overrides``
    are deep-merged."""
    base = {
        "delivery": {"pacing": {"reserve_fraction": RESERVE}},
        "shutdown": {"drain_deadline_s": 2},
    }
    return bridge_config(
        bootstrap, sandbox, group=group, topic=topic, dlq=dlq, **deep_merge(base, overrides)
    )


def start_replicas(
    procs: Procs, cfg: dict[str, Any], replicas: int, partitions: int
) -> list[Bridge]:
    """``replicas`` bridges of ``cfg`` (each on its own metrics port), returned once they
    have settled on the ``partitions`` of their topic (see :func:`wait_settled`)."""
    bridges = [procs.bridge(with_new_port(cfg), f"r{i}") for i in range(replicas)]
    wait_settled(bridges, partitions)
    return bridges


def wait_settled(bridges: list[Bridge], partitions: int, settle_s: float = 1.0) -> None:
    """Wait until every bridge owns some of the ``partitions``, all of them are owned, and
    the split has not changed for ``settle_s`` (a group still rebalancing moves them)."""
    seen: dict[str, Any] = {"split": None, "since": 0.0}

    def settled() -> bool:
        split = [readyz(b)[1].get("partitions", 0) for b in bridges]
        now = time.monotonic()
        if not all(split) or sum(split) != partitions:
            seen["split"] = None
            return False
        if split != seen["split"]:
            seen["split"], seen["since"] = split, now
            return False
        return now - seen["since"] >= settle_s

    wait_for(f"{len(bridges)} bridge(s) to settle on {partitions} partitions", settled, 90, 0.5)


def produce_backlog(
    bootstrap: str, topic: str, partitions: int, limit: int, windows: int, prefix: str = "e"
) -> None:
    """Enough matching events for ``windows`` full windows at 50 recipients a request."""
    produce_events(bootstrap, topic, make_events(windows * limit * 50, prefix=prefix), partitions)


def first_window_end(sandbox: Sandbox) -> float:
    """The end (``reset``, epoch seconds) of the window in which the sandbox answered its
    first request: the first full window starts there."""

    def reset() -> float | None:
        st = sandbox.stats()
        return float(st["pools"]["default"]["reset"]) if st["requests_total"] else None

    return wait_for("the first request", reset, timeout=60, interval=0.1)


def let_windows_run(until: float) -> None:
    """Sleep until wall-clock time ``until``: the measured windows are the behaviour under
    test, so they have to elapse; nothing can be waited for instead."""
    time.sleep(max(0.0, until - time.time()))  # the windows are the behaviour under test
