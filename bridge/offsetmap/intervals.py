"""A set of offsets stored as sorted, disjoint, half-open runs (the in-memory completion log)."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator


class Intervals:
    """A set of offsets as sorted, disjoint, half-open runs ``[starts[i], ends[i])``.

    Memory grows with the number of holes, not of offsets: a million events matched by no rule
    above one hung request are a single run.
    """

    __slots__ = ("starts", "ends")

    def __init__(self, starts: Iterable[int] = (), ends: Iterable[int] = ()) -> None:
        self.starts = list(starts)
        self.ends = list(ends)

    @classmethod
    def of(cls, offsets: Iterable[int]) -> Intervals:
        out = cls()
        starts, ends = out.starts, out.ends
        for o in sorted(set(offsets)):
            if ends and ends[-1] == o:
                ends[-1] = o + 1
            else:
                starts.append(o)
                ends.append(o + 1)
        return out

    def __contains__(self, offset: int) -> bool:
        i = bisect.bisect_right(self.starts, offset) - 1
        return i >= 0 and offset < self.ends[i]

    def __len__(self) -> int:
        return sum(self.ends) - sum(self.starts)

    def __bool__(self) -> bool:
        return bool(self.starts)

    def add(self, offset: int) -> bool:
        """Add one offset; False if it was there already."""
        starts, ends = self.starts, self.ends
        i = bisect.bisect_right(starts, offset) - 1
        if i >= 0 and offset < ends[i]:
            return False
        left = i >= 0 and ends[i] == offset
        right = i + 1 < len(starts) and starts[i + 1] == offset + 1
        if left and right:
            ends[i] = ends[i + 1]
            del starts[i + 1], ends[i + 1]
        elif left:
            ends[i] = offset + 1
        elif right:
            starts[i + 1] = offset
        else:
            starts.insert(i + 1, offset)
            ends.insert(i + 1, offset + 1)
        return True

    def discard_below(self, position: int) -> None:
        i = bisect.bisect_right(self.ends, position)
        del self.starts[:i], self.ends[:i]
        if self.starts and self.starts[0] < position:
            self.starts[0] = position

    def __iter__(self) -> Iterator[int]:
        for s, e in zip(self.starts, self.ends, strict=True):
            yield from range(s, e)
