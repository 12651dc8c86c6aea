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

The package: :mod:`~bridge.offsetmap.wire` (envelope, checksum, varints),
:mod:`~bridge.offsetmap.intervals` (the offset set), :mod:`~bridge.offsetmap.writer` (the
encodings and the shortest text), :mod:`~bridge.offsetmap.budget` (:func:`fit`) and
:mod:`~bridge.offsetmap.reader` (:func:`decode`).
"""

from bridge.offsetmap.budget import Fit, fit
from bridge.offsetmap.intervals import Intervals
from bridge.offsetmap.reader import CompletedWork, decode
from bridge.offsetmap.wire import (
    BITSET,
    DEFAULT_BUDGET,
    DELTAS,
    KIND_NAMES,
    PREFIX,
    RUNS,
    VERSION,
    ZLIB,
)
from bridge.offsetmap.writer import encode, sizes

__all__ = [
    "BITSET",
    "DEFAULT_BUDGET",
    "DELTAS",
    "KIND_NAMES",
    "PREFIX",
    "RUNS",
    "VERSION",
    "ZLIB",
    "CompletedWork",
    "Fit",
    "Intervals",
    "decode",
    "encode",
    "fit",
    "sizes",
]
