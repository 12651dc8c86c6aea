"""Clock-aligned fixed-window rate-limit pools.

A window of length W seconds starts at an epoch multiple of W (so a 3600 s window resets on
the clock hour, as Braze documents); `X-RateLimit-Reset` is the window end in UTC epoch seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bridge.braze_facts import audience_key

DEFAULT = "default"
BROADCAST = "broadcast"
SENDS_ID = "sends_id"


@dataclass(slots=True)
class Pool:
    name: str
    limit: int
    window_s: int
    window_start: int = 0
    used: int = 0
    rejected: int = 0
    # per-key sub-counters (the optional "per unique audience" broadcast limit)
    sub_limit: int | None = None
    sub_used: dict[str, int] = field(default_factory=dict)

    def _roll(self, now: float) -> None:
        start = int(now) // self.window_s * self.window_s
        if start != self.window_start:
            self.window_start = start
            self.used = 0
            self.sub_used.clear()

    def take(self, now: float, sub_key: str | None = None) -> bool:
        """Consume one request if the budget allows; False = over the limit (429)."""
        self._roll(now)
        if self.used >= self.limit:
            self.rejected += 1
            return False
        if sub_key is not None and self.sub_limit is not None:
            n = self.sub_used.get(sub_key, 0)
            if n >= self.sub_limit:
                self.rejected += 1
                return False
            self.sub_used[sub_key] = n + 1
        self.used += 1
        return True

    def headers(self, now: float) -> tuple[int, int, int]:
        """(limit, remaining, reset epoch s) for the current window."""
        self._roll(now)
        return self.limit, max(0, self.limit - self.used), self.window_start + self.window_s

    def state(self, now: float) -> dict[str, Any]:
        limit, remaining, reset = self.headers(now)
        return {
            "limit": limit,
            "remaining": remaining,
            "used": self.used,
            "reset": reset,
            "window_s": self.window_s,
            "rejected_total": self.rejected,
        }


class Pools:
    """The three pools of the sandbox: `default`, `broadcast`, `sends_id`."""

    def __init__(
        self,
        *,
        hourly_limit: int,
        hourly_window_s: int,
        broadcast_limit: int,
        broadcast_window_s: int,
        sends_id_limit: int,
        sends_id_window_s: int,
        broadcast_audience_limit: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clock = clock
        self.pools: dict[str, Pool] = {
            DEFAULT: Pool(DEFAULT, hourly_limit, hourly_window_s),
            BROADCAST: Pool(
                BROADCAST, broadcast_limit, broadcast_window_s, sub_limit=broadcast_audience_limit
            ),
            SENDS_ID: Pool(SENDS_ID, sends_id_limit, sends_id_window_s),
        }

    def __getitem__(self, name: str) -> Pool:
        return self.pools[name]

    def reconfigure(self, name: str, limit: int, window_s: int, sub_limit: int | None) -> None:
        """Change a pool's budget; a changed window length starts a fresh window."""
        pool = self.pools[name]
        if pool.window_s != window_s:
            pool.window_s = window_s
            pool.window_start = 0
            pool.used = 0
            pool.sub_used.clear()
        pool.limit = limit
        pool.sub_limit = sub_limit

    def reset(self) -> None:
        for pool in self.pools.values():
            pool.window_start = 0
            pool.used = 0
            pool.rejected = 0
            pool.sub_used.clear()

    def state(self) -> dict[str, Any]:
        now = self.clock()
        return {name: pool.state(now) for name, pool in self.pools.items()}


def is_broadcast(path: str, body: dict[str, Any]) -> bool:
    """Whether a request goes to the broadcast pool: it targets a segment, an audience or the
    whole campaign segment, and names no users ("when only specifying a segment or Connected
    Audience"). `segment_id` counts on `/messages/*` only (elsewhere it is not a parameter)."""
    if body.get("recipients") or body.get("external_user_ids") or body.get("user_aliases"):
        return False
    return (
        body.get("broadcast") is True
        or body.get("audience") is not None
        or (path.startswith("/messages/") and body.get("segment_id") is not None)
    )


def charge(
    pools: Pools,
    pool_name: str,
    broadcast_capable: bool,
    path: str,
    body: dict[str, Any],
    now: float,
) -> tuple[Pool, bool]:
    """Charge one request to its pool; returns the pool and whether the budget allowed it.

    Broadcast requests of a broadcast-capable endpoint go to the broadcast pool (and its
    per-audience budget when set); `sends_id` requests are charged by their handler, only
    when they create a new send id."""
    pool = pools[pool_name]
    if broadcast_capable and is_broadcast(path, body):
        pool = pools[BROADCAST]
        return pool, pool.take(now, audience_key(body) if pool.sub_limit else None)
    return pool, pool_name == SENDS_ID or pool.take(now)
