"""The map's envelope: version prefix, base64, kind byte, CRC-32, and the varints of the body.

``text = "bkb1." base64(kind:u8 stored crc32(kind + stored):u32be)``; what ``stored`` holds is
up to the writer and the reader (:mod:`bridge.offsetmap.writer`, :mod:`bridge.offsetmap.reader`).
"""

from __future__ import annotations

import base64
import binascii
import zlib

VERSION = 1
PREFIX = f"bkb{VERSION}."
DEFAULT_BUDGET = 4096  # Kafka's offset.metadata.max.bytes default

BITSET, RUNS, DELTAS = 1, 2, 3
ZLIB = 0x80
KIND_NAMES = {BITSET: "bitset", RUNS: "runs", DELTAS: "deltas"}
MAX_INFLATED = 1 << 22  # a decoded body larger than this is garbage


class Corrupt(ValueError):
    """The body of a map whose envelope checked out cannot be read."""


def varint(out: bytearray, n: int) -> None:
    """Append ``n`` to ``out`` as an unsigned LEB128 varint."""
    if n < 0:
        raise ValueError("varint of a negative number")
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


class Reader:
    """Reads varints and byte fields from a body, raising :class:`Corrupt` past its end."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def varint(self) -> int:
        n = shift = 0
        data, pos = self.data, self.pos
        while True:
            if pos >= len(data):
                raise Corrupt("truncated varint")
            b = data[pos]
            pos += 1
            n |= (b & 0x7F) << shift
            if b < 0x80:
                self.pos = pos
                return n
            shift += 7
            if shift > 70:
                raise Corrupt("varint too long")

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise Corrupt("truncated field")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out


def seal(kind: int, stored: bytes) -> str:
    """The text of a map: ``stored`` (zlib'd when ``kind & ZLIB``) behind the kind and CRC."""
    payload = bytes([kind]) + stored
    payload += zlib.crc32(payload).to_bytes(4, "big")
    return PREFIX + base64.b64encode(payload).decode("ascii")


def unseal(text: str) -> tuple[int, bytes] | str:
    """``(kind, stored)`` of a map's text, or why it is not one (``text`` is not empty)."""
    if not text.startswith("bkb"):
        return "not a completed-work map"
    version, dot, b64 = text[3:].partition(".")
    if not dot or version != str(VERSION):
        return f"unsupported map version {version[:8]!r}"
    try:
        payload = base64.b64decode(b64.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return "corrupt map: not base64"
    if len(payload) < 5 or zlib.crc32(payload[:-4]).to_bytes(4, "big") != payload[-4:]:
        return "corrupt map: checksum mismatch"
    return payload[0], payload[1:-4]
