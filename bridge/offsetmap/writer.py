"""Encoding a map: the three ``done`` encodings, the partial section, and the shortest text.

``body = varint(base) done partial``; every combination (3 done encodings, raw or zlib) that
can fit is built and the shortest text is used (ties: the first in the order of
:func:`candidates`).
"""

from __future__ import annotations

import bisect
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bridge.offsetmap.intervals import Intervals
from bridge.offsetmap.wire import (
    BITSET,
    DEFAULT_BUDGET,
    DELTAS,
    KIND_NAMES,
    RUNS,
    ZLIB,
    seal,
    varint,
)


@dataclass(slots=True)
class Prepared:
    """Completions above ``base`` as merged intervals and sorted partial entries."""

    base: int
    starts: list[int]
    ends: list[int]
    poffs: list[int]
    prules: list[frozenset[str]]

    def below(self, limit: int | None) -> Prepared:
        """The entries at offsets below ``limit`` (all of them when ``limit`` is None)."""
        if limit is None:
            return self
        i = bisect.bisect_left(self.starts, limit)
        ends = self.ends[:i]
        if ends and ends[-1] > limit:
            ends[-1] = limit
        j = bisect.bisect_left(self.poffs, limit)
        return Prepared(self.base, self.starts[:i], ends, self.poffs[:j], self.prules[:j])

    @property
    def done_count(self) -> int:
        return sum(self.ends) - sum(self.starts)

    @property
    def entries(self) -> int:
        return self.done_count + len(self.poffs)

    @property
    def last(self) -> int:
        """The highest entry's offset (base - 1 when empty)."""
        last = self.ends[-1] - 1 if self.ends else self.base - 1
        return max(last, self.poffs[-1]) if self.poffs else last


def prepare(
    base: int,
    done: Iterable[int] | Intervals,
    partial: Mapping[int, Iterable[str]] | None,
) -> Prepared:
    """The completions at or above ``base``; a done offset's partial entry is dropped."""
    iv = done if isinstance(done, Intervals) else Intervals.of(done)
    if iv.starts and iv.starts[0] < base:
        iv = Intervals(iv.starts, iv.ends)
        iv.discard_below(base)
    entries = sorted(
        (o, frozenset(r)) for o, r in (partial or {}).items() if o >= base and r and o not in iv
    )
    entries = [(o, r) for o, r in entries if r]
    return Prepared(
        base, list(iv.starts), list(iv.ends), [o for o, _ in entries], [r for _, r in entries]
    )


def _done_runs(p: Prepared) -> bytes:
    """``varint(n) varint*n``: alternating run lengths from base, the first one "not done"."""
    out = bytearray()
    varint(out, 2 * len(p.starts))
    pos = p.base
    append = out.append
    for s, e in zip(p.starts, p.ends, strict=True):
        gap, run = s - pos, e - s
        if gap < 0x80 and run < 0x80:  # the common case, inline
            append(gap)
            append(run)
        else:
            varint(out, gap)
            varint(out, run)
        pos = e
    return bytes(out)


def _bitset_bytes(p: Prepared) -> int:
    return (p.ends[-1] - p.base + 7) >> 3 if p.ends else 0


def _done_bitset(p: Prepared) -> bytes:
    """``varint(nbytes) bytes``: bit i (LSB first) set when base + i is done."""
    nbytes = _bitset_bytes(p)
    bits = bytearray(nbytes)
    for s, e in zip(p.starts, p.ends, strict=True):
        a, b = s - p.base, e - p.base
        fa, fb = (a + 7) >> 3, b >> 3  # whole bytes [fa, fb)
        if b - a == 1:
            bits[a >> 3] |= 1 << (a & 7)
            continue
        if fa < fb:
            bits[fa:fb] = b"\xff" * (fb - fa)
            edge = (*range(a, fa << 3), *range(fb << 3, b))
        else:
            edge = tuple(range(a, b))
        for bit in edge:
            bits[bit >> 3] |= 1 << (bit & 7)
    out = bytearray()
    varint(out, nbytes)
    return bytes(out + bits)


def _done_deltas(p: Prepared) -> bytes:
    """``varint(n) varint*n``: the gaps between done offsets, the first one from base."""
    out = bytearray()
    varint(out, p.done_count)
    prev = p.base - 1
    for s, e in zip(p.starts, p.ends, strict=True):
        gap = s - prev - 1
        if gap < 0x80:
            out.append(gap)
        else:
            varint(out, gap)
        if e - s > 1:
            out += bytes(e - s - 1)  # consecutive offsets: gaps of 0
        prev = e - 1
    return bytes(out)


def _partial_section(p: Prepared) -> bytes:
    """The rule-name table, then ``varint(n) (varint(gap) varint(mask))*n`` by offset."""
    names = sorted({name for rules in p.prules for name in rules})
    index = {name: i for i, name in enumerate(names)}
    out = bytearray()
    varint(out, len(names))
    for name in names:
        raw = name.encode("utf-8", "surrogatepass")  # any str, never an error
        varint(out, len(raw))
        out += raw
    varint(out, len(p.poffs))
    prev = p.base - 1
    for o, rules in zip(p.poffs, p.prules, strict=True):
        varint(out, o - prev - 1)
        mask = 0
        for name in rules:
            mask |= 1 << index[name]
        varint(out, mask)
        prev = o
    return bytes(out)


def candidates(p: Prepared, budget: int) -> dict[str, str]:
    """Text per encoding worth trying. A bitset is built only up to 4 x budget bytes and the
    deltas only for at most 2 x budget done offsets: beyond that they cannot fit (a zlib'd
    form of such a map is never shorter than the zlib'd runs or bitset that are tried)."""
    head = bytearray()
    varint(head, p.base)
    tail = _partial_section(p)
    kinds: list[tuple[int, bytes]] = [(RUNS, _done_runs(p))]
    if _bitset_bytes(p) <= 4 * budget:
        kinds.append((BITSET, _done_bitset(p)))
    if p.done_count <= 2 * budget:
        kinds.append((DELTAS, _done_deltas(p)))
    out = {}
    for kind, done in kinds:
        body = bytes(head) + done + tail
        for k, stored in ((kind, body), (kind | ZLIB, zlib.compress(body, 9))):
            name = KIND_NAMES[kind] + ("+zlib" if k & ZLIB else "")
            out[name] = seal(k, stored)
    return out


def shortest(p: Prepared, budget: int) -> str | None:
    """The shortest text of ``p`` (``""`` when empty), or None if it exceeds ``budget``."""
    if not p.starts and not p.poffs:
        return ""
    best = min(candidates(p, budget).values(), key=len)
    return best if len(best) <= budget else None


def encode(
    base: int,
    done: Iterable[int] | Intervals,
    partial: Mapping[int, Iterable[str]] | None = None,
    budget: int = DEFAULT_BUDGET,
) -> str | None:
    """The shortest text for these completions above ``base``; None if it exceeds ``budget``.

    An empty map encodes as ``""`` (plain commit, no metadata). An offset in both ``done`` and
    ``partial`` is done. Offsets below ``base`` are dropped (they are below the commit).
    """
    return shortest(prepare(base, done, partial), budget)


def sizes(
    base: int,
    done: Iterable[int] | Intervals,
    partial: Mapping[int, Iterable[str]] | None = None,
    budget: int = DEFAULT_BUDGET,
) -> dict[str, int]:
    """Text length per encoding tried for ``budget`` (tests, benchmarks, metrics)."""
    return {k: len(v) for k, v in candidates(prepare(base, done, partial), budget).items()}
