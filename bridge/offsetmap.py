"""The completed-work map: what is already final above a partition's committed position.

A partition commits only up to its lowest unfinished event (the watermark, ``bridge/offsets``).
Events above it may already be final: Braze accepted them, or they were dead-lettered. After a
crash the next consumer reads from the committed position and would send them again - a second
push, email or SMS, since Braze has no idempotency key (issue 11). This module encodes those
completions as the text of Kafka's offset-commit metadata, which is atomic with the offset, and
decodes them on assignment so the consumer can skip them. The idea (several encodings, the
smallest chosen per commit) comes from confluentinc/parallel-consumer's
``OffsetMapCodecManager``; the format is our own. Pure: no I/O, no Kafka.

What is recorded, relative to ``base`` (the committed offset the text is stored with):

* ``done``: offsets >= base whose event is final (every action);
* ``partial``: for an event matched by several rules, the rule names whose action is final
  (by rule **name**, not index: hot reload and replay keep working; a renamed rule's action is
  simply not known to be final and is sent again).

Offsets below ``base`` are below the commit and need no entry; they are ignored.

Format (version 1)::

    text    = "bkb1." base64(payload)                    ASCII, len(text) bytes
    payload = kind:u8  stored  crc32(kind + stored):u32be
    stored  = body, or zlib(body) when kind & 0x80
    body    = varint(base)  done  partial
    done    = bitset:  varint(nbytes) bytes           bit i (LSB first) = base + i is done
            | runs:    varint(n) varint*n             alternating runs, first one "not done"
            | deltas:  varint(n) varint*n             gaps between done offsets (first from base)
    partial = varint(nnames) (varint(len) utf8)*nnames   the rule-name table
              varint(n) (varint(gap) varint(mask))*n    offset gaps, bit j = names[j] is final

Every combination (3 done encodings, raw or zlib) that can fit is built and the shortest text
is used.

Decoding never raises: empty text, garbage, a bad checksum, another version, or a map written
for another base offset (offsets reset by a tool, a commit by an older bridge) all give "nothing
known" with the reason, so the events are sent again - at-least-once holds, only the
duplicate saving is lost.

**When the map does not fit** the budget (the broker's ``offset.metadata.max.bytes``, 4096 by
default; a lower broker setting is a lower budget) :func:`encode` returns None and nothing is
dropped silently. The policy for the committer: call :func:`fit`, commit the map of the longest
prefix of completions that fits (entries below ``Fit.limit``), and stop accepting new work at or
above ``Fit.limit`` on that partition (back-pressure) until the watermark moves and the map
shrinks. What completes above the limit meanwhile (work already in flight when the map filled)
is not in the committed map and would be sent again after a crash: at most what was in flight.
Completions are never removed from the in-memory log because they did not fit; they are
committed as soon as the map has room again.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

VERSION = 1
PREFIX = f"bkb{VERSION}."
DEFAULT_BUDGET = 4096  # Kafka's offset.metadata.max.bytes default

BITSET, RUNS, DELTAS = 1, 2, 3
ZLIB = 0x80
KIND_NAMES = {BITSET: "bitset", RUNS: "runs", DELTAS: "deltas"}
_MAX_INFLATED = 1 << 22  # a decoded body larger than this is garbage


class _Corrupt(ValueError):
    pass


# -- varints -------------------------------------------------------------------------------


def _varint(out: bytearray, n: int) -> None:
    if n < 0:
        raise ValueError("varint of a negative number")
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def varint(self) -> int:
        n = shift = 0
        data, pos = self.data, self.pos
        while True:
            if pos >= len(data):
                raise _Corrupt("truncated varint")
            b = data[pos]
            pos += 1
            n |= (b & 0x7F) << shift
            if b < 0x80:
                self.pos = pos
                return n
            shift += 7
            if shift > 70:
                raise _Corrupt("varint too long")

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise _Corrupt("truncated field")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out


# -- the decoded map ----------------------------------------------------------------------


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


# -- encoding -------------------------------------------------------------------------------


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


@dataclass(slots=True)
class _Prepared:
    """Completions above ``base`` as merged intervals and sorted partial entries."""

    base: int
    starts: list[int]
    ends: list[int]
    poffs: list[int]
    prules: list[frozenset[str]]

    def below(self, limit: int | None) -> _Prepared:
        if limit is None:
            return self
        i = bisect.bisect_left(self.starts, limit)
        ends = self.ends[:i]
        if ends and ends[-1] > limit:
            ends[-1] = limit
        j = bisect.bisect_left(self.poffs, limit)
        return _Prepared(self.base, self.starts[:i], ends, self.poffs[:j], self.prules[:j])

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


def _prepare(
    base: int,
    done: Iterable[int] | Intervals,
    partial: Mapping[int, Iterable[str]] | None,
) -> _Prepared:
    iv = done if isinstance(done, Intervals) else Intervals.of(done)
    if iv.starts and iv.starts[0] < base:
        iv = Intervals(iv.starts, iv.ends)
        iv.discard_below(base)
    entries = sorted(
        (o, frozenset(r)) for o, r in (partial or {}).items() if o >= base and r and o not in iv
    )
    entries = [(o, r) for o, r in entries if r]
    return _Prepared(
        base, list(iv.starts), list(iv.ends), [o for o, _ in entries], [r for _, r in entries]
    )


def _done_runs(p: _Prepared) -> bytes:
    out = bytearray()
    _varint(out, 2 * len(p.starts))
    pos = p.base
    append = out.append
    for s, e in zip(p.starts, p.ends, strict=True):
        gap, run = s - pos, e - s
        if gap < 0x80 and run < 0x80:  # the common case, inline
            append(gap)
            append(run)
        else:
            _varint(out, gap)
            _varint(out, run)
        pos = e
    return bytes(out)


def _bitset_bytes(p: _Prepared) -> int:
    return (p.ends[-1] - p.base + 7) >> 3 if p.ends else 0


def _done_bitset(p: _Prepared) -> bytes:
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
    _varint(out, nbytes)
    return bytes(out + bits)


def _done_deltas(p: _Prepared) -> bytes:
    out = bytearray()
    _varint(out, p.done_count)
    prev = p.base - 1
    for s, e in zip(p.starts, p.ends, strict=True):
        gap = s - prev - 1
        if gap < 0x80:
            out.append(gap)
        else:
            _varint(out, gap)
        if e - s > 1:
            out += bytes(e - s - 1)  # consecutive offsets: gaps of 0
        prev = e - 1
    return bytes(out)


def _partial_section(p: _Prepared) -> bytes:
    names = sorted({name for rules in p.prules for name in rules})
    index = {name: i for i, name in enumerate(names)}
    out = bytearray()
    _varint(out, len(names))
    for name in names:
        raw = name.encode("utf-8", "surrogatepass")  # any str, never an error
        _varint(out, len(raw))
        out += raw
    _varint(out, len(p.poffs))
    prev = p.base - 1
    for o, rules in zip(p.poffs, p.prules, strict=True):
        _varint(out, o - prev - 1)
        mask = 0
        for name in rules:
            mask |= 1 << index[name]
        _varint(out, mask)
        prev = o
    return bytes(out)


def _candidates(p: _Prepared, budget: int) -> dict[str, str]:
    """Text per encoding worth trying. A bitset is built only up to 4 x budget bytes and the
    deltas only for at most 2 x budget done offsets: beyond that they cannot fit (a zlib'd
    form of such a map is never shorter than the zlib'd runs or bitset that are tried)."""
    head = bytearray()
    _varint(head, p.base)
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
            payload = bytes([k]) + stored
            payload += zlib.crc32(payload).to_bytes(4, "big")
            name = KIND_NAMES[kind] + ("+zlib" if k & ZLIB else "")
            out[name] = PREFIX + base64.b64encode(payload).decode("ascii")
    return out


def _encode(p: _Prepared, budget: int) -> str | None:
    if not p.starts and not p.poffs:
        return ""
    best = min(_candidates(p, budget).values(), key=len)
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
    return _encode(_prepare(base, done, partial), budget)


def sizes(
    base: int,
    done: Iterable[int] | Intervals,
    partial: Mapping[int, Iterable[str]] | None = None,
    budget: int = DEFAULT_BUDGET,
) -> dict[str, int]:
    """Text length per encoding tried for ``budget`` (tests, benchmarks, metrics)."""
    return {k: len(v) for k, v in _candidates(_prepare(base, done, partial), budget).items()}


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
    new work at or above ``limit`` (see the module docstring).
    """
    p = _prepare(base, done, partial)
    full = _encode(p, budget)
    if full is not None:
        return Fit(full, None, p.entries, 0)
    texts: dict[int, str | None] = {base: "", p.last + 1: None}

    def text_of(limit: int) -> str | None:  # the map of the entries below limit
        if limit not in texts:
            texts[limit] = _encode(p.below(limit), budget)
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


# -- decoding -------------------------------------------------------------------------------


def decode(base: int, text: str | None) -> CompletedWork:
    """Completions stored with a commit at ``base``; "nothing known" (with why) on any doubt."""
    if not text:
        return CompletedWork.unknown(base, "no metadata")
    if not text.startswith("bkb"):
        return CompletedWork.unknown(base, "not a completed-work map")
    version, dot, b64 = text[3:].partition(".")
    if not dot or version != str(VERSION):
        return CompletedWork.unknown(base, f"unsupported map version {version[:8]!r}")
    try:
        payload = base64.b64decode(b64.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return CompletedWork.unknown(base, "corrupt map: not base64")
    if len(payload) < 5 or zlib.crc32(payload[:-4]).to_bytes(4, "big") != payload[-4:]:
        return CompletedWork.unknown(base, "corrupt map: checksum mismatch")
    try:
        return _parse(base, payload[0], payload[1:-4])
    except (_Corrupt, zlib.error, UnicodeDecodeError, ValueError, IndexError) as exc:
        return CompletedWork.unknown(base, f"corrupt map: {exc}")


def _parse(base: int, kind: int, stored: bytes) -> CompletedWork:
    if kind & ZLIB:
        z = zlib.decompressobj()
        stored = z.decompress(stored, _MAX_INFLATED)
        if z.unconsumed_tail or not z.eof:
            raise _Corrupt("bad or oversized zlib body")
    enc = KIND_NAMES.get(kind & ~ZLIB)
    if enc is None:
        raise _Corrupt(f"unknown encoding {kind}")
    r = _Reader(stored)
    committed, base = base, r.varint()
    if base > committed:
        # The commit went back below the map (offsets reset by a tool): nothing is known.
        return CompletedWork.unknown(
            committed, f"map written for offset {base}, committed offset is {committed}"
        )
    # A map written for an earlier offset (the committer reuses a recent map for a newer
    # position instead of encoding on every commit) still holds facts: completions do not
    # undo themselves; entries below the committed offset are simply not needed.
    starts: list[int] = []
    ends: list[int] = []

    def add(s: int, e: int) -> None:
        if ends and ends[-1] == s:
            ends[-1] = e
        else:
            starts.append(s)
            ends.append(e)

    k = kind & ~ZLIB
    if k == BITSET:
        bits = r.take(r.varint())
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
    elif k == RUNS:
        pos = base
        for i in range(r.varint()):
            n = r.varint()
            if i % 2 and n:
                add(pos, pos + n)
            pos += n
    else:
        prev = base - 1
        for _ in range(r.varint()):
            o = prev + 1 + r.varint()
            add(o, o + 1)
            prev = o
    names = []
    for _ in range(r.varint()):
        names.append(r.take(r.varint()).decode("utf-8", "surrogatepass"))
    partial: dict[int, frozenset[str]] = {}
    prev = base - 1
    for _ in range(r.varint()):
        o = prev + 1 + r.varint()
        mask = r.varint()
        if mask >> len(names):
            raise _Corrupt("rule index out of range")
        partial[o] = frozenset(n for j, n in enumerate(names) if mask >> j & 1)
        prev = o
    if r.pos != len(stored):
        raise _Corrupt("trailing bytes")
    if base < committed:
        return _above(committed, starts, ends, partial, enc)
    return CompletedWork(base, tuple(starts), tuple(ends), partial, None, enc)


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
