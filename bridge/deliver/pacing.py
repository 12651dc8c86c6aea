"""Pacing from Braze's own ``X-RateLimit-*`` headers, per rate-limit pool.

Braze sends ``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset`` (epoch seconds) on every
response, for the whole workspace. The pacer keeps one :class:`PoolState` per
``(workspace, pool)`` key and decides how long the next request of a pool must wait.

**Even spend across replicas, without a coordinator.** Each replica estimates its *share* of
the workspace's spending: over the last few answers, the requests it made itself divided by
how far ``Remaining`` fell (the fall includes every other replica's and every other client's
requests). It then paces its own requests at ``share x G``, where ``G`` is the rate at which
the *whole workspace* should spend to follow a straight line from the window's start to its
reset (``usable / T``), corrected towards that line with a short time constant. N replicas
that each do this spend ``G`` together and ``Remaining`` falls linearly to the reserve, instead
of decaying like ``(time_left / T)^N`` (each replica spreading ``remaining / time_left`` as if
it were alone). A small additive term (``fairness``) lets an idle replica that gets work
again grow back to its fair share; the steady lag behind the line that it causes is learnt
(``carry``) so the workspace stays on the line. ``Remaining`` is extrapolated from the last
answer at the line's rate (others spent meanwhile), and a window of known length is started
locally at its reset, each replica's first request spread over one of its intervals.
Before the window length ``T`` is known (first window) the pacer spreads
``remaining / time_left``, scaled by the share.

**Priorities.** Bulk work (priority below :data:`BULK_BELOW`) may spend the workspace's budget
only down to ``bulk_floor x limit``; transactional work down to ``reserve_fraction x limit``.
Both decisions are made from the workspace-wide headers every replica sees, so the floor holds
for the whole workspace. Bulk and transactional work have separate pacing slots, so a bulk
backlog never delays a transactional request's slot.

**Robust to a pool whose numbers change.** An answer whose reset lies in the past belongs to a
window that is over and is ignored; any other answer whose limit or reset differs from the
stored ones starts a new window (a new limit, or a different window length, is adopted at
once). A 429 closes the pool until the reset the 429 itself carries.

**Per-audience broadcast limit.** Broadcast requests are also limited to
``audience_limit`` requests per ``audience_window_s`` per unique audience (Braze: 10/min),
paced locally with a rolling window (which also satisfies a clock-minute reading); a 429 on a
broadcast request while the pool still has budget closes that audience until the next minute.
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from collections.abc import Callable, Mapping

from bridge.actions.base import BULK, BULK_BELOW, TRANSACTIONAL, is_bulk, priority_value
from bridge.deliver.budget import DEFAULT_WORKSPACE, PoolKey, PoolState, adopt_answer

__all__ = ["BULK", "BULK_BELOW", "TRANSACTIONAL", "is_bulk", "priority_value"]


class Pacer:
    """Decides how long a request to a pool must wait before it may start."""

    def __init__(
        self,
        reserve_fraction: float = 0.1,
        enabled: bool = True,
        clock: Callable[[], float] = time.time,
        bulk_floor: float = 0.2,
        audience_limit: int = 10,
        audience_window_s: float = 60.0,
        fairness: float = 0.004,
        even: bool = True,
    ) -> None:
        self.reserve = reserve_fraction
        self.enabled = enabled
        self.clock = clock
        self.bulk_floor = max(bulk_floor, reserve_fraction)
        self.audience_limit = audience_limit
        self.audience_window_s = audience_window_s
        self.fairness = fairness
        self.even = even
        self.pools: dict[PoolKey, PoolState] = {}
        self._audiences: dict[tuple[PoolKey, str], deque[float]] = {}
        self._audience_blocked: dict[tuple[PoolKey, str], float] = {}
        self._jitter = random.Random().random

    @staticmethod
    def _key(name: str | PoolKey) -> PoolKey:
        return (DEFAULT_WORKSPACE, name) if isinstance(name, str) else name

    def pool(self, name: str | PoolKey) -> PoolState:
        key = self._key(name)
        p = self.pools.get(key)
        if p is None:
            p = self.pools[key] = PoolState(key[1], key[0])
        return p

    # -- decisions -------------------------------------------------------------------------
    def delay(
        self, name: str | PoolKey, priority: int = TRANSACTIONAL, audience: str | None = None
    ) -> float:
        """Seconds to wait before the next request of ``name``; 0 means go now (and reserve)."""
        key = self._key(name)
        p = self.pool(key)
        now = self.clock()
        if p.blocked_until > now:
            return p.blocked_until - now
        if audience is not None:
            d = self._audience_delay(key, audience, now)
            if d > 0:
                return d
        if not self.enabled:
            return 0.0
        if p.unpaced and p.limit is None:
            return 0.0
        if self.even and p.reset <= now and p.window_s is not None and p.limit is not None:
            self._roll(p, now)
        if p.limit is None or p.remaining is None or p.reset <= now:
            # No numbers for the current window yet: one request at a time asks for them,
            # so N replicas do not all burst at the start of a window.
            if p.in_flight and p.probing:
                return 0.02
            p.probing = True
            return 0.0
        bulk = is_bulk(priority)
        floor = self.bulk_floor if bulk else self.reserve
        usable = p.remaining - floor * p.limit - p.in_flight
        if usable < 1:
            # Nothing left this window for this class: wait for the reset (the next response
            # after it brings fresh numbers).
            return max(p.reset - now, 0.0) + 0.05
        slot = p.next_slot.get(bulk, 0.0)
        if slot > now:
            return slot - now
        interval = 1.0 / self._rate(p, usable, floor, now)
        p.next_slot[bulk] = now + interval
        p.interval[bulk] = interval
        return 0.0

    def _roll(self, p: PoolState, now: float) -> None:
        """The window of known length ended: start the next one locally (limit, a full
        remainder) instead of probing, and spread this replica's first requests over one of
        its intervals, so N replicas do not all fire at the reset."""
        assert p.window_s is not None and p.limit is not None  # noqa: S101
        periods = math.floor((now - p.reset) / p.window_s) + 1
        start = p.reset + (periods - 1) * p.window_s
        p.reset += periods * p.window_s
        p.remaining = p.limit
        p.answered_at = start
        p.own = 0
        p.samples.clear()
        for c, iv in p.interval.items():
            p.next_slot[c] = max(p.next_slot.get(c, 0.0), start + self._jitter() * iv)

    def _rate(self, p: PoolState, usable: float, floor: float, now: float) -> float:
        """This replica's request rate now (requests/s) for a class with this floor."""
        assert p.limit is not None  # noqa: S101 - checked by the caller
        left = max(p.reset - now, 1e-3)
        share = min(1.0, p.share + self.fairness) if self.even else 1.0
        T = p.window_s
        if not self.even or T is None or left > T * 1.05:
            return max(usable / left, 1e-6) * share
        # Follow the straight line from (window start, limit) to (reset, floor): the whole
        # workspace should spend ``base`` per second, plus a correction of the distance to
        # the line over ``tau`` seconds (negative when the workspace is ahead of it).
        base = p.limit * (1.0 - floor) / T
        tau = max(T / 25.0, 0.2)
        # ``carry`` (seconds, <= 0) learns the steady lag behind the line that the fairness
        # term causes, so the workspace stays *on* the line: no burst after each reset and no
        # early end before it.
        carry = p.carry.get(floor, 0.0)
        # ``Remaining`` is as old as this replica's last answer; the rest of the workspace has
        # spent since then (at the line's rate, as far as this replica can tell)
        seen = usable - base * min(max(now - p.answered_at, 0.0), T / 10)
        dev = seen - base * (left - carry)
        if abs(dev) < base * T / 10:
            p.carry[floor] = min(0.0, max(-T / 20, 0.98 * carry + 0.02 * dev / base))
        g = base + dev / tau
        g = max(g, base * 0.02, usable / left * 0.1)
        return g * share

    def _audience_delay(self, key: PoolKey, audience: str, now: float) -> float:
        k = (key, audience)
        until = self._audience_blocked.get(k, 0.0)
        if until > now:
            return until - now
        q = self._audiences.get(k)
        if q is None:
            return 0.0
        horizon = now - self.audience_window_s
        while q and q[0] <= horizon:
            q.popleft()
        if len(q) >= self.audience_limit:
            return q[0] + self.audience_window_s - now + 1e-3
        return 0.0

    # -- bookkeeping -----------------------------------------------------------------------
    def started(self, name: str | PoolKey, audience: str | None = None) -> None:
        key = self._key(name)
        self.pool(key).in_flight += 1
        if audience is not None:
            q = self._audiences.setdefault((key, audience), deque())
            q.append(self.clock())
            if len(self._audiences) > 10_000:
                self._forget_audiences()

    def _forget_audiences(self) -> None:
        horizon = self.clock() - self.audience_window_s
        for k in [k for k, q in self._audiences.items() if not q or q[-1] <= horizon]:
            del self._audiences[k]

    def finished(
        self,
        name: str | PoolKey,
        headers: Mapping[str, str] | None,
        status: int | None,
        audience: str | None = None,
    ) -> None:
        key = self._key(name)
        p = self.pool(key)
        p.in_flight = max(0, p.in_flight - 1)
        now = self.clock()
        if headers is None or headers.get("x-ratelimit-limit") is None:
            p.probing = False  # an error without numbers, or a server that sends none
            if headers is not None and status is not None and status < 500:
                p.unpaced = True
        answered_reset: float | None = None
        if headers is not None:
            answered_reset = adopt_answer(p, headers, status, now)
        if status == 429:
            if answered_reset is not None and answered_reset > now:
                until = answered_reset
            else:
                until = p.reset if p.reset > now else now + 1.0
            if (
                audience is not None
                and p.remaining is not None
                and p.limit is not None
                and p.remaining > self.reserve * p.limit
            ):
                # the pool has budget: the per-audience limit answered; close that audience
                minute = self.audience_window_s
                self._audience_blocked[(key, audience)] = (math.floor(now / minute) + 1) * minute
            else:
                p.blocked_until = max(p.blocked_until, until)
