"""Fixtures of the reliability suite: every process a test starts is stopped at teardown."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.procs import Bridge, Sandbox


class Procs:
    """Starts sandboxes and bridges for a test and stops whatever is left at teardown."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.sandboxes: list[Sandbox] = []
        self.bridges: list[Bridge] = []

    def sandbox(self, *args: str) -> Sandbox:
        sb = Sandbox(*args)
        self.sandboxes.append(sb)
        return sb

    def bridge(self, config: dict[str, Any], name: str, start: bool = True) -> Bridge:
        b = Bridge(self.tmp, config, name=name)
        self.bridges.append(b)
        return b.start() if start else b

    def close(self) -> None:
        for b in self.bridges:
            if b.proc is not None and b.proc.poll() is None:
                b.kill()
            if b.proc is not None:
                with contextlib.suppress(Exception):
                    b.wait(10)
        for sb in self.sandboxes:
            if sb.proc.poll() is None or not sb.http.is_closed:
                with contextlib.suppress(Exception):
                    sb.stop()


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    p = Procs(tmp_path)
    try:
        yield p
    finally:
        p.close()
