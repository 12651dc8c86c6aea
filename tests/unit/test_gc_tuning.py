"""``braze-bridge run`` tunes the cyclic garbage collector before the loop starts."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from bridge.app import GC_GEN0_THRESHOLD, tune_gc


@pytest.fixture
def restore_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restore_gc")
def test_start_up_objects_are_frozen_and_generation_0_is_collected_less_often() -> None:
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    built_at_start = [object() for _ in range(10)], {"rules": [[]]}
    tune_gc()
    assert gc.get_freeze_count() > 0  # the start-up heap is no longer rescanned
    assert gc.is_tracked(built_at_start[1])
    assert gc.get_threshold() == (GC_GEN0_THRESHOLD, 10, 10)


@pytest.mark.usefixtures("restore_gc")
def test_cycles_made_after_start_up_are_still_collected() -> None:
    tune_gc()

    class Node:
        other: Node | None = None

    a, b = Node(), Node()
    a.other, b.other = b, a
    ref = id(a)
    del a, b
    assert gc.collect() >= 2
    assert all(id(o) != ref for o in gc.get_objects() if isinstance(o, Node))
