"""A pool's budget as Braze's ``X-RateLimit-*`` answers describe it.

:class:`PoolState` is what the pacer knows of one ``(workspace, pool)``: the window's limit,
remaining count and reset, the learnt window length, and this replica's estimated share of
the workspace's spending. :func:`adopt_answer` folds one answer's headers into it (a stale
window's late answer is ignored, a changed limit or reset starts a new window, out-of-order
answers within a window keep the lowest count) and :func:`estimate_share` updates the share.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_WORKSPACE = "default"

PoolKey = tuple[str, str]  # (workspace, pool)


@dataclass(slots=True)
class PoolState:
    """What the pacer knows of one ``(workspace, pool)``'s current window and spending."""

    name: str
    workspace: str = DEFAULT_WORKSPACE
    limit: int | None = None
    remaining: int | None = None
    reset: float = 0.0  # epoch seconds
    window_s: float | None = None  # learnt from consecutive resets
    blocked_until: float = 0.0  # epoch seconds
    next_slot: dict[bool, float] = field(default_factory=dict)  # per class (bulk?)
    interval: dict[bool, float] = field(default_factory=dict)  # last pacing interval per class
    carry: dict[float, float] = field(default_factory=dict)  # learnt lag per floor (seconds)
    answered_at: float = 0.0  # when the remaining count was last brought up to date
    in_flight: int = 0
    paced_s: float = 0.0
    probing: bool = False
    unpaced: bool = False  # the server sends no rate-limit headers: nothing to pace by
    share: float = 1.0  # this replica's estimated share of the workspace's spending
    own: int = 0  # own answered requests in this window
    samples: deque[tuple[float, int, int]] = field(default_factory=lambda: deque(maxlen=64))


def adopt_answer(
    p: PoolState, headers: Mapping[str, str], status: int | None, now: float
) -> float | None:
    """Fold one answer's rate-limit headers into ``p``; returns the reset the answer names
    (None when its numbers do not parse)."""
    lim, rem, rst = (
        headers.get("x-ratelimit-limit"),
        headers.get("x-ratelimit-remaining"),
        headers.get("x-ratelimit-reset"),
    )
    try:
        new_limit = int(float(lim)) if lim is not None else p.limit
        new_reset = float(rst) if rst is not None else p.reset
        new_rem = int(float(rem)) if rem is not None else None
    except ValueError:
        return None
    if rst is not None and new_reset <= now:
        return new_reset  # a late answer from a window that is already over: stale
    fresh = abs(new_reset - p.reset) > 0.5 or new_limit != p.limit
    if fresh:
        if p.limit == new_limit and p.reset and new_reset > p.reset + 0.5:
            # the next window of the same pool: its length is the distance of the resets
            gap = new_reset - p.reset
            if p.window_s is None or gap < p.window_s - 0.5:
                p.window_s = gap
        elif p.limit != new_limit or new_reset < p.reset - 0.5:
            p.window_s = None  # another pool's numbers, or a different window length
            p.carry.clear()
        if p.window_s is not None and new_reset - now > p.window_s * 1.05:
            p.window_s = None
        same_pool = p.limit == new_limit and p.window_s is not None
        p.limit = new_limit
        p.reset = new_reset
        p.remaining = new_rem
        if not same_pool:
            p.next_slot.clear()
        p.probing = False
        p.own = 0
        p.samples.clear()
        p.blocked_until = 0.0 if status != 429 else p.blocked_until
    elif new_rem is not None and (p.remaining is None or new_rem < p.remaining):
        # Answers arrive out of order: within one window keep the lowest.
        p.remaining = new_rem
    if p.remaining is not None:
        p.answered_at = now
    if status != 429 and p.remaining is not None:
        p.own += 1
        estimate_share(p, now)
    return new_reset


def estimate_share(p: PoolState, now: float) -> None:
    """Own requests / fall of ``Remaining`` over the last answers (or ~1/30 window)."""
    assert p.remaining is not None  # noqa: S101
    p.samples.append((now, p.remaining, p.own))
    span = max(0.5, (p.window_s or 30.0) / 30.0)
    old = None
    for s in p.samples:
        if now - s[0] <= span:
            break
        old = s
    if old is None:
        old = p.samples[0]
    if len(p.samples) < 3 or old is p.samples[-1]:
        return
    fall = old[1] - p.remaining
    own = p.own - old[2]
    if fall < 10 or own <= 0:
        return  # too few requests to tell (e.g. just after a reset): keep the estimate
    inst = min(1.0, own / fall)
    p.share = 0.7 * p.share + 0.3 * inst
