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

Every combination (3 done encodings, raw or zlib) is built and the shortest text is used.

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
import zlib
from collections.abc import Iterable, Mapping
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


def _done_bitset(rel: list[int]) -> bytes:
    out = bytearray()
    if not rel:
        _varint(out, 0)
        return bytes(out)
    bits = bytearray((rel[-1] >> 3) + 1)
    for r in rel:
        bits[r >> 3] |= 1 << (r & 7)
    _varint(out, len(bits))
    out += bits
    return bytes(out)


def _runs(rel: list[int]) -> list[int]:
    """Alternating run lengths, first "not done" (possibly 0)."""
    runs: list[int] = []
    pos = 0
    i, n = 0, len(rel)
    while i < n:
        start = rel[i]
        j = i
        while j + 1 < n and rel[j + 1] == rel[j] + 1:
            j += 1
        runs.append(start - pos)
        runs.append(rel[j] - start + 1)
        pos = rel[j] + 1
        i = j + 1
    return runs


def _done_runs(rel: list[int]) -> bytes:
    runs = _runs(rel)
    out = bytearray()
    _varint(out, len(runs))
    for r in runs:
        _varint(out, r)
    return bytes(out)


def _done_deltas(rel: list[int]) -> bytes:
    out = bytearray()
    _varint(out, len(rel))
    prev = -1
    for r in rel:
        _varint(out, r - prev - 1)
        prev = r
    return bytes(out)


_DONE_ENCODERS = ((BITSET, _done_bitset), (RUNS, _done_runs), (DELTAS, _done_deltas))


def _partial_section(base: int, partial: Mapping[int, frozenset[str]], done: set[int]) -> bytes:
    entries = sorted((o, rules) for o, rules in partial.items() if o >= base and o not in done)
    entries = [(o, r) for o, r in entries if r]
    names = sorted({name for _, rules in entries for name in rules})
    index = {name: i for i, name in enumerate(names)}
    out = bytearray()
    _varint(out, len(names))
    for name in names:
        raw = name.encode()
        _varint(out, len(raw))
        out += raw
    _varint(out, len(entries))
    prev = base - 1
    for o, rules in entries:
        _varint(out, o - prev - 1)
        mask = 0
        for name in rules:
            mask |= 1 << index[name]
        _varint(out, mask)
        prev = o
    return bytes(out)


def _texts(base: int, done: set[int], partial: Mapping[int, frozenset[str]]) -> list[str]:
    rel = sorted(o - base for o in done)
    head = bytearray()
    _varint(head, base)
    tail = _partial_section(base, partial, done)
    out = []
    for kind, enc in _DONE_ENCODERS:
        body = bytes(head) + enc(rel) + tail
        for k, stored in ((kind, body), (kind | ZLIB, zlib.compress(body, 9))):
            payload = bytes([k]) + stored
            payload += zlib.crc32(payload).to_bytes(4, "big")
            out.append(PREFIX + base64.b64encode(payload).decode("ascii"))
    return out


def _normalize(
    base: int, done: Iterable[int], partial: Mapping[int, Iterable[str]]
) -> tuple[set[int], dict[int, frozenset[str]]]:
    d = {o for o in done if o >= base}
    p = {o: frozenset(r) for o, r in partial.items() if o >= base and o not in d and r}
    return d, p


def encode(
    base: int,
    done: Iterable[int],
    partial: Mapping[int, Iterable[str]] | None = None,
    budget: int = DEFAULT_BUDGET,
) -> str | None:
    """The shortest text for these completions above ``base``; None if it exceeds ``budget``.

    An empty map encodes as ``""`` (plain commit, no metadata). An offset in both ``done`` and
    ``partial`` is done. Offsets below ``base`` are dropped (they are below the commit).
    """
    d, p = _normalize(base, done, partial or {})
    if not d and not p:
        return ""
    best = min(_texts(base, d, p), key=len)
    return best if len(best) <= budget else None


def sizes(
    base: int, done: Iterable[int], partial: Mapping[int, Iterable[str]] | None = None
) -> dict[str, int]:
    """Text length of every encoding (for tests, benchmarks and metrics)."""
    d, p = _normalize(base, done, partial or {})
    names = [
        f"{KIND_NAMES[k]}{'+zlib' if z else ''}" for k, _ in _DONE_ENCODERS for z in (False, True)
    ]
    return dict(zip(names, map(len, _texts(base, d, p)), strict=True))


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
    done: Iterable[int],
    partial: Mapping[int, Iterable[str]] | None = None,
    budget: int = DEFAULT_BUDGET,
) -> Fit:
    """The map of the longest prefix of completions (by offset) that fits ``budget``.

    Bisects over the completed offsets (each encoding's size grows with the prefix; the zlib
    variants nearly so) and returns a prefix that is guaranteed to fit. The committer stops
    accepting new work at or above ``limit`` (see the module docstring).
    """
    d, p = _normalize(base, done, partial or {})
    full = encode(base, d, p, budget)
    if full is not None:
        return Fit(full, None, len(d) + len(p), 0)
    cuts = sorted(d | set(p))

    def text_below(i: int) -> str | None:
        lim = cuts[i]
        return encode(
            base, {o for o in d if o < lim}, {o: r for o, r in p.items() if o < lim}, budget
        )

    lo, hi = 0, len(cuts) - 1  # text_below(0) == "" fits; text_below(len) does not
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if text_below(mid) is not None:
            lo = mid
        else:
            hi = mid - 1
    text = text_below(lo)
    if text is None:  # pragma: no cover - text_below(0) is "" and always fits
        text = ""
    return Fit(text, cuts[lo], lo, len(cuts) - lo)


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
    written_for = r.varint()
    if written_for != base:
        return CompletedWork.unknown(
            base, f"map written for offset {written_for}, committed offset is {base}"
        )
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
        for i, byte in enumerate(bits):
            if byte:
                for j in range(8):
                    if byte >> j & 1:
                        o = base + i * 8 + j
                        add(o, o + 1)
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
        names.append(r.take(r.varint()).decode())
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
    return CompletedWork(base, tuple(starts), tuple(ends), partial, None, enc)
