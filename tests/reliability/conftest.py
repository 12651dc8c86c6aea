"""Fixtures of the reliability suite: every process a test starts is stopped at teardown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.procs import Bridge, Sandbox, stop_all


class Procs:
    """Starts sandboxes and bridges for a test. They register in the one process registry
    (``tests.support.procs.LIVE``); at teardown whatever still runs is stopped, bridges with
    SIGKILL (a fault test's leftovers need no drain)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp

    def sandbox(self, *args: str) -> Sandbox:
        return Sandbox(*args)

    def bridge(self, config: dict[str, Any], name: str, start: bool = True) -> Bridge:
        b = Bridge(self.tmp, config, name=name)
        return b.start() if start else b

    def close(self) -> None:
        stop_all(kill=True)


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    p = Procs(tmp_path)
    try:
        yield p
    finally:
        p.close()
