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


def poll_until(probe: Callable[[], T | None], timeout: float, interval: float = 0.1) -> T | None:
    """Call ``probe`` every ``interval`` seconds until it returns something truthy (returned)
    or ``timeout`` passes (``None``). For helpers that report a timeout themselves; tests
    use :func:`wait_for`, which fails naming what it waited for."""
    found, _err = _poll(probe, timeout, interval)
    return found or None


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.1) -> T:
    """Call ``probe`` until it returns something truthy; fail naming ``what`` after ``timeout``.

    A probe that cannot connect yet (``httpx.HTTPError``, ``OSError``) counts as not yet.
    """
    last, err = _poll(probe, timeout, interval)
    if last:
        return last
    raise AssertionError(
        f"timed out after {timeout:g}s waiting for {what} (last: {last!r}"
        + (f", error: {err!r})" if err else ")")
    )


def _poll(
    probe: Callable[[], T | None], timeout: float, interval: float
) -> tuple[T | None, Exception | None]:
    """The one polling loop: (the first truthy result, None), or (the last result, the last
    connection error) once ``timeout`` has passed."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    err: Exception | None = None
    while True:
        try:
            last, err = probe(), None
        except (httpx.HTTPError, OSError) as exc:
            last, err = None, exc
        if last or time.monotonic() >= deadline:
            return last, err
        time.sleep(interval)
