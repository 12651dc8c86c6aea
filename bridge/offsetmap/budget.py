"""Fitting a map into the broker's metadata budget: the longest prefix of completions that fits.

The committer commits :attr:`Fit.text` and stops accepting new work at or above
:attr:`Fit.limit` on that partition until the watermark moves and the map shrinks (the policy is
in the package docstring, :mod:`bridge.offsetmap`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bridge.offsetmap.intervals import Intervals
from bridge.offsetmap.wire import DEFAULT_BUDGET
from bridge.offsetmap.writer import prepare, shortest


@dataclass(frozen=True, slots=True)
class Fit:
    """The longest prefix of the completions whose map fits: entries < ``limit``.

    ``limit`` is None when everything fits. ``text`` is the map to commit.
    """

    text: str
    limit: int | None
    kept: int  # entries (done offsets + partial offsets) in the map
    left_out: int  # entries at or above limit, not in the map


def fit(
    base: int,
    done: Iterable[int] | Intervals,
    partial: Mapping[int, Iterable[str]] | None = None,
    budget: int = DEFAULT_BUDGET,
    hint: int | None = None,
) -> Fit:
    """The map of the longest prefix of completions (by offset) that fits ``budget``.

    Searches the limit offset by galloping from ``hint`` (the previous limit, if any: under
    back-pressure it rarely moves, and an unchanged limit costs two encodings) and bisecting.
    Each encoding's size grows with the prefix (the zlib'd ones nearly so); the prefix returned
    is guaranteed to fit and one entry more is guaranteed not to. The committer stops accepting
    new work at or above ``limit`` (see the package docstring).
    """
    p = prepare(base, done, partial)
    full = shortest(p, budget)
    if full is not None:
        return Fit(full, None, p.entries, 0)
    texts: dict[int, str | None] = {base: "", p.last + 1: None}

    def text_of(limit: int) -> str | None:  # the map of the entries below limit
        if limit not in texts:
            texts[limit] = shortest(p.below(limit), budget)
        return texts[limit]

    lo, hi = base, p.last + 1  # the prefix below lo fits, the one below hi does not
    if hint is not None and lo < hint < hi:
        step = 1
        if text_of(hint) is not None:
            lo = hint
            while lo + step < hi and text_of(lo + step) is not None:
                lo, step = lo + step, step * 2
            hi = min(hi, lo + step)
        else:
            hi = hint
            while hi - step > lo and text_of(hi - step) is None:
                hi, step = hi - step, step * 2
            lo = max(lo, hi - step)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if text_of(mid) is not None:
            lo = mid
        else:
            hi = mid
    # the entries below lo fit and those below lo + 1 do not: lo is the first entry left out
    kept = p.below(lo).entries
    return Fit(text_of(lo) or "", lo, kept, p.entries - kept)
