"""Waiting for a condition, and a free loopback port: one helper each for every tier."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import TypeVar

import httpx

T = TypeVar("T")


def free_port() -> int:
    """A loopback port free right now (for servers whose port must be known in advance)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.1) -> T:
    """Call ``probe`` until it returns something truthy; fail naming ``what`` after ``timeout``.

    A probe that cannot connect yet (``httpx.HTTPError``, ``OSError``) counts as not yet.
    """
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except (httpx.HTTPError, OSError) as exc:
            last = None
            err: Exception | None = exc
        else:
            err = None
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(
        f"timed out after {timeout:g}s waiting for {what} (last: {last!r}"
        + (f", error: {err!r})" if err else ")")
    )
