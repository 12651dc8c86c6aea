"""Decoding a map: :class:`CompletedWork` read back from a commit's metadata, never raising.

Empty text, garbage, a bad checksum, another version, or a map written for a later base offset
all give "nothing known" with the reason; a map written for an earlier base keeps what is at or
above the committed offset.
"""

from __future__ import annotations

import bisect
import re
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from bridge.offsetmap.wire import (
    BITSET,
    DELTAS,
    KIND_NAMES,
    MAX_INFLATED,
    RUNS,
    ZLIB,
    Corrupt,
    Reader,
    unseal,
)


@dataclass(frozen=True, slots=True)
class CompletedWork:
    """Completions above ``base`` as read back from commit metadata.

    ``reason`` is None when the metadata was read; otherwise it says why nothing is known
    (then ``is_done`` is always False and ``done_rules`` always empty).
    """

    base: int
    starts: tuple[int, ...] = ()  # sorted, disjoint half-open intervals [starts[i], ends[i])
    ends: tuple[int, ...] = ()
    partial: Mapping[int, frozenset[str]] = field(default_factory=dict)
    reason: str | None = None
    encoding: str | None = None

    @classmethod
    def unknown(cls, base: int, reason: str) -> CompletedWork:
        return cls(base, reason=reason)

    def is_done(self, offset: int) -> bool:
        """Every action of the event at ``offset`` is final."""
        i = bisect.bisect_right(self.starts, offset) - 1
        return i >= 0 and offset < self.ends[i]

    def done_rules(self, offset: int) -> frozenset[str]:
        """Rule names whose action for the event at ``offset`` is final (partial events)."""
        return self.partial.get(offset, frozenset())

    def is_final(self, offset: int, rule: str) -> bool:
        """The action of ``rule`` for the event at ``offset`` need not be sent again."""
        return self.is_done(offset) or rule in self.partial.get(offset, ())

    @property
    def done_count(self) -> int:
        return sum(e - s for s, e in zip(self.starts, self.ends, strict=True))

    def done_offsets(self) -> Iterable[int]:
        for s, e in zip(self.starts, self.ends, strict=True):
            yield from range(s, e)

    @property
    def empty(self) -> bool:
        return not self.starts and not self.partial


def decode(base: int, text: str | None) -> CompletedWork:
    """Completions stored with a commit at ``base``; "nothing known" (with why) on any doubt."""
    if not text:
        return CompletedWork.unknown(base, "no metadata")
    sealed = unseal(text)
    if isinstance(sealed, str):
        return CompletedWork.unknown(base, sealed)
    try:
        return _parse(base, *sealed)
    except (Corrupt, zlib.error, UnicodeDecodeError, ValueError, IndexError) as exc:
        return CompletedWork.unknown(base, f"corrupt map: {exc}")


class _Runs:
    """Done offsets collected in ascending order as merged half-open runs."""

    __slots__ = ("starts", "ends")

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []

    def add(self, s: int, e: int) -> None:
        """Add ``[s, e)``, which starts at or after every run added so far."""
        if self.ends and self.ends[-1] == s:
            self.ends[-1] = e
        else:
            self.starts.append(s)
            self.ends.append(e)


def _read_bitset(r: Reader, base: int, runs: _Runs) -> None:
    bits = r.take(r.varint())
    add = runs.add
    for m in re.finditer(rb"[^\x00]+", bits):
        for i in range(m.start(), m.end()):
            byte = bits[i]
            o = base + (i << 3)
            if byte == 0xFF:
                add(o, o + 8)
                continue
            for j in range(8):
                if byte >> j & 1:
                    add(o + j, o + j + 1)


def _read_runs(r: Reader, base: int, runs: _Runs) -> None:
    pos = base
    for i in range(r.varint()):
        n = r.varint()
        if i % 2 and n:
            runs.add(pos, pos + n)
        pos += n


def _read_deltas(r: Reader, base: int, runs: _Runs) -> None:
    prev = base - 1
    for _ in range(r.varint()):
        o = prev + 1 + r.varint()
        runs.add(o, o + 1)
        prev = o


_DONE_READERS: dict[int, Callable[[Reader, int, _Runs], None]] = {
    BITSET: _read_bitset,
    RUNS: _read_runs,
    DELTAS: _read_deltas,
}


def _read_partial(r: Reader, base: int) -> dict[int, frozenset[str]]:
    """The rule-name table and the partially done offsets with their final rules' names."""
    names = []
    for _ in range(r.varint()):
        names.append(r.take(r.varint()).decode("utf-8", "surrogatepass"))
    partial: dict[int, frozenset[str]] = {}
    prev = base - 1
    for _ in range(r.varint()):
        o = prev + 1 + r.varint()
        mask = r.varint()
        if mask >> len(names):
            raise Corrupt("rule index out of range")
        partial[o] = frozenset(n for j, n in enumerate(names) if mask >> j & 1)
        prev = o
    return partial


def _inflate(stored: bytes) -> bytes:
    """The zlib'd body, refusing one that is truncated, followed by junk, or too large."""
    z = zlib.decompressobj()
    body = z.decompress(stored, MAX_INFLATED)
    if z.unconsumed_tail or not z.eof:
        raise Corrupt("bad or oversized zlib body")
    return body


def _parse(committed: int, kind: int, stored: bytes) -> CompletedWork:
    """The map in a checksummed payload, as known for a commit at ``committed``."""
    body = _inflate(stored) if kind & ZLIB else stored
    enc = KIND_NAMES.get(kind & ~ZLIB)
    if enc is None:
        raise Corrupt(f"unknown encoding {kind}")
    r = Reader(body)
    base = r.varint()
    if base > committed:
        # The commit went back below the map (offsets reset by a tool): nothing is known.
        return CompletedWork.unknown(
            committed, f"map written for offset {base}, committed offset is {committed}"
        )
    # A map written for an earlier offset (the committer reuses a recent map for a newer
    # position instead of encoding on every commit) still holds facts: completions do not
    # undo themselves; entries below the committed offset are simply not needed.
    runs = _Runs()
    _DONE_READERS[kind & ~ZLIB](r, base, runs)
    partial = _read_partial(r, base)
    if r.pos != len(body):
        raise Corrupt("trailing bytes")
    if base < committed:
        return _above(committed, runs.starts, runs.ends, partial, enc)
    return CompletedWork(base, tuple(runs.starts), tuple(runs.ends), partial, None, enc)


def _above(
    committed: int,
    starts: list[int],
    ends: list[int],
    partial: dict[int, frozenset[str]],
    enc: str,
) -> CompletedWork:
    """The part of a map at or above ``committed``."""
    s2, e2 = [], []
    for s, e in zip(starts, ends, strict=True):
        if e > committed:
            s2.append(max(s, committed))
            e2.append(e)
    part = {o: r for o, r in partial.items() if o >= committed}
    return CompletedWork(committed, tuple(s2), tuple(e2), part, None, enc)
