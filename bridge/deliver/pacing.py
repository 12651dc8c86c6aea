"""Pacing from Braze's own ``X-RateLimit-*`` headers, per rate-limit pool.

Braze sends ``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset`` (epoch seconds) on every
response, for the whole workspace. Each pool spreads what remains (less a reserve kept for
other users of the workspace) evenly until the reset. Because the headers are workspace-wide,
N replicas that each follow them slow down together as the shared remainder shrinks: with N
replicas each sending at ``remaining/time_left``, the remainder decays like
``(time_left/T)^N`` -- it is used up by the reset but never overrun, without a coordinator.
A 429 closes the pool until its reset.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(slots=True)
class PoolState:
    name: str
    limit: int | None = None
    remaining: int | None = None
    reset: float = 0.0  # epoch seconds
    blocked_until: float = 0.0  # epoch seconds
    next_slot: float = 0.0  # epoch seconds
    in_flight: int = 0
    paced_s: float = 0.0
    probing: bool = False
    unpaced: bool = False  # the server sends no rate-limit headers: nothing to pace by


class Pacer:
    """Decides how long a request to a pool must wait before it may start."""

    def __init__(
        self,
        reserve_fraction: float = 0.1,
        enabled: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.reserve = reserve_fraction
        self.enabled = enabled
        self.clock = clock
        self.pools: dict[str, PoolState] = {}

    def pool(self, name: str) -> PoolState:
        p = self.pools.get(name)
        if p is None:
            p = self.pools[name] = PoolState(name)
        return p

    def delay(self, name: str) -> float:
        """Seconds to wait before the next request of ``name``; 0 means go now (and reserve)."""
        p = self.pool(name)
        now = self.clock()
        if p.blocked_until > now:
            return p.blocked_until - now
        if not self.enabled:
            return 0.0
        if p.unpaced and p.limit is None:
            return 0.0
        if p.limit is None or p.remaining is None or p.reset <= now:
            # No numbers for the current window yet: one request at a time asks for them,
            # so N replicas do not all burst at the start of a window.
            if p.in_flight and p.probing:
                return 0.02
            p.probing = True
            return 0.0
        usable = p.remaining - self.reserve * p.limit - p.in_flight
        if usable < 1:
            # Nothing left this window for us: wait for the reset (the next response after
            # it brings fresh numbers).
            return max(p.reset - now, 0.0) + 0.05
        interval = (p.reset - now) / usable
        if p.next_slot > now:
            return p.next_slot - now
        p.next_slot = now + interval
        return 0.0

    def started(self, name: str) -> None:
        self.pool(name).in_flight += 1

    def finished(self, name: str, headers: Mapping[str, str] | None, status: int | None) -> None:
        p = self.pool(name)
        p.in_flight = max(0, p.in_flight - 1)
        now = self.clock()
        if headers is None or headers.get("x-ratelimit-limit") is None:
            p.probing = False  # an error without numbers, or a server that sends none
            if headers is not None and status is not None and status < 500:
                p.unpaced = True
        if headers is not None:
            lim, rem, rst = (
                headers.get("x-ratelimit-limit"),
                headers.get("x-ratelimit-remaining"),
                headers.get("x-ratelimit-reset"),
            )
            try:
                new_reset = float(rst) if rst is not None else p.reset
                if new_reset < p.reset - 0.5:
                    pass  # a late answer from a window that is already over: stale numbers
                else:
                    if lim is not None:
                        p.limit = int(float(lim))
                    if rem is not None:
                        new_rem = int(float(rem))
                        fresh = new_reset > p.reset + 0.5
                        # Answers arrive out of order: within one window keep the lowest.
                        if fresh or p.remaining is None or new_rem < p.remaining:
                            p.remaining = new_rem
                        if fresh:
                            p.next_slot = 0.0
                            p.probing = False
                        p.reset = max(p.reset, new_reset)
            except ValueError:
                pass
        if status == 429:
            until = p.reset if p.reset > now else now + 1.0
            p.blocked_until = max(p.blocked_until, until)
