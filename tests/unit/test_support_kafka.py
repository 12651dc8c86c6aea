"""The test harness's own "caught up" rule (flake-root-cause.md, cause a)."""

from __future__ import annotations

from tests.support.kafka import caught_up


def test_an_empty_partition_without_a_commit_counts_as_caught_up() -> None:
    # all 25 keyless events landed on partition 0; partition 1 was never committed
    assert caught_up({0: 25, 1: -1001}, {0: 25, 1: 0})
    assert caught_up({0: 25}, {0: 25, 1: 0})


def test_a_partition_behind_its_end_is_not_caught_up() -> None:
    assert not caught_up({0: 24, 1: -1001}, {0: 25, 1: 0})
    assert not caught_up({0: 25, 1: -1001}, {0: 25, 1: 3})
    assert not caught_up({}, {0: 1})
