"""Avro bodies read by Python code generated once per writer schema.

fastavro interprets the schema for every record: per field it looks up the type, dispatches
through generic readers and builds ``datetime`` objects for timestamps that the bridge then
turns into ISO strings. For the small records events usually are, that interpretation costs
more than the reading. :func:`compile_reader` generates one straight-line function per
record type instead: fields in schema order, single-byte varints inline, strings sliced from
the message bytes, timestamps formatted directly as ISO 8601 text.

The values are exactly those of ``fastavro.schemaless_reader`` followed by
:func:`bridge.decode.avro.to_jsonable` (the differential test in
``tests/decode/test_avro_compiled.py`` checks that over random schemas and data). Logical
types other than the timestamps go through fastavro's own logical readers, so they match by
construction. A schema the generator does not handle (a logical type fastavro knows but this
module does not, an array of items that take no bytes) yields ``None`` and the caller keeps
using fastavro. Schema resolution (a reader schema that differs from the writer's) always
uses fastavro.

Errors: the generated code raises ``IndexError`` / ``struct.error`` when the body ends
early and :class:`InvalidAvro` for values no writer produces (negative lengths, union or
enum index out of range); :func:`read_compiled` turns them into ``DecodeError`` with the
same messages as the fastavro path.
"""

from __future__ import annotations

import binascii
import datetime as dt
import struct
from collections.abc import Callable
from typing import Any

from fastavro import _logical_readers_py as logical

from bridge.decode.avro_values import to_jsonable
from bridge.errors import DecodeError

Reader = Callable[[bytes, int], tuple[Any, int]]

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


class InvalidAvro(ValueError):
    """A value no Avro writer produces (negative length, index out of range...)."""


class Unsupported(Exception):
    """The generator does not handle this schema; use fastavro."""


def _long(buf: bytes, pos: int) -> tuple[int, int]:
    """A zig-zag varint of more than one byte (the one-byte case is inlined). Avro longs
    are 64-bit: a longer varint is refused (fastavro wraps it unpredictably)."""
    b = buf[pos]
    pos += 1
    n = b & 0x7F
    shift = 7
    while b & 0x80:
        b = buf[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
    if n > 0xFFFF_FFFF_FFFF_FFFF:
        raise InvalidAvro("varint longer than 64 bits")
    return (n >> 1) ^ -(n & 1), pos


_days: dict[int, str] = {}


def _day(days: int) -> str:
    text = _days.get(days)
    if text is None:
        text = dt.date.fromordinal(_EPOCH_ORDINAL + days).isoformat()
        if len(_days) >= 4096:
            _days.clear()
        _days[days] = text
    return text


def _seconds(sec: int) -> str:
    days, s = divmod(sec, 86_400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return f"{_day(days)}T{h:02d}:{m:02d}:{s:02d}"


_recent: dict[int, str] = {}


def _second(sec: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` of an epoch second; events come in bursts of the same
    seconds, so the text is cached."""
    text = _recent.get(sec)
    if text is None:
        text = _seconds(sec)
        if len(_recent) >= 4096:
            _recent.clear()
        _recent[sec] = text
    return text


def iso_utc_micros(us: int) -> str:
    """Microseconds since the epoch as ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z`` (what
    ``datetime.isoformat`` gives, with ``Z`` for ``+00:00``)."""
    sec, frac = divmod(us, 1_000_000)
    if frac:
        return f"{_second(sec)}.{frac:06d}Z"
    return _second(sec) + "Z"


def iso_utc_millis(ms: int) -> str:
    sec, frac = divmod(ms, 1000)
    if frac:
        return f"{_second(sec)}.{frac:03d}000Z"
    return _second(sec) + "Z"


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def _bad_union(index: int, branches: int) -> InvalidAvro:
    return InvalidAvro(f"union index {index} out of range (union has {branches} branches)")


def _bad_enum(index: int, symbols: int) -> InvalidAvro:
    return InvalidAvro(f"enum index {index} out of range (enum has {symbols} symbols)")


def _negative(what: str, n: int) -> InvalidAvro:
    return InvalidAvro(f"negative {what} {n}")


def _logical_json(reader: Callable[..., Any], schema: dict[str, Any]) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        return to_jsonable(reader(value, schema))

    return convert


_FAST_LOGICAL: dict[str, Callable[[int], str]] = {
    "long-timestamp-millis": iso_utc_millis,
    "long-timestamp-micros": iso_utc_micros,
}


class _Generator:
    def __init__(self, named: dict[str, Any]) -> None:
        self.named = named
        self.env: dict[str, Any] = {
            "_long": _long,
            "_b64": _b64,
            "_bad_union": _bad_union,
            "_bad_enum": _bad_enum,
            "_negative": _negative,
            "_unpack_f": struct.Struct("<f").unpack_from,
            "_unpack_d": struct.Struct("<d").unpack_from,
        }
        self.functions: dict[str, str] = {}  # record full name -> function name
        self.sources: list[str] = []
        self._n = 0

    def var(self, prefix: str = "v") -> str:
        self._n += 1
        return f"{prefix}{self._n}"

    def const(self, value: Any) -> str:
        name = self.var("_c")
        self.env[name] = value
        return name

    # -- types -------------------------------------------------------------------------------
    def resolve(self, schema: Any) -> Any:
        if isinstance(schema, str):
            if schema in PRIMITIVES:
                return schema
            if schema in self.named:
                return self.named[schema]
            raise Unsupported(f"unknown named type {schema!r}")
        if isinstance(schema, dict):
            t = schema.get("type")
            if isinstance(t, str) and t in PRIMITIVES and not schema.get("logicalType"):
                return t
            if isinstance(t, dict | list):
                return self.resolve(t)
            return schema
        if isinstance(schema, list):
            return schema
        raise Unsupported(f"unexpected schema node {schema!r}")

    def min_size(self, schema: Any, seen: frozenset[str] = frozenset()) -> int:
        """Bytes the smallest encoding of ``schema`` takes (0 for null, empty records...)."""
        s = self.resolve(schema)
        if isinstance(s, str):
            return {"null": 0, "float": 4, "double": 8}.get(s, 1)
        if isinstance(s, list):
            return 1
        t = s.get("type")
        if t == "fixed":
            return int(s["size"])
        if t in ("record", "error"):
            name = s.get("name", "")
            if name in seen:
                return 1
            return sum(self.min_size(f["type"], seen | {name}) for f in s.get("fields", []))
        if isinstance(t, str) and t in PRIMITIVES:
            return self.min_size(t)
        return 1  # enum, array, map

    # -- code ----------------------------------------------------------------------------------
    def read(self, schema: Any, out: str, ind: str) -> list[str]:
        """Lines that read one ``schema`` value at ``pos`` into the variable ``out``."""
        s = self.resolve(schema)
        if isinstance(s, str):
            return self.primitive(s, out, ind)
        if isinstance(s, list):
            return self.union(s, out, ind)
        t = s.get("type")
        lt = s.get("logicalType")
        if isinstance(lt, str) and isinstance(t, str):
            key = f"{t}-{lt}"
            if key in _FAST_LOGICAL:
                raw = self.var()
                fn = self.const(_FAST_LOGICAL[key])
                return [*self.primitive(t, raw, ind), f"{ind}{out} = {fn}({raw})"]
            reader = logical.LOGICAL_READERS.get(key)
            if reader is not None:
                raw = self.var()
                fn = self.const(_logical_json(reader, s))
                if t == "fixed":  # decimal: the reader wants the raw bytes
                    size = int(s["size"])
                    lines = [f"{ind}{raw} = buf[pos:pos + {size}]", f"{ind}pos += {size}"]
                elif t == "bytes":
                    lines = self.primitive("bytes", raw, ind, raw_bytes=True)
                else:
                    lines = self.primitive(t, raw, ind)
                return [*lines, f"{ind}{out} = {fn}({raw})"]
            # fastavro ignores logical types it does not know: so do we
        if t in ("record", "error"):
            fn = self.record(s)
            return [f"{ind}{out}, pos = {fn}(buf, pos)"]
        if t == "enum":
            syms = s.get("symbols", [])
            idx = self.var()
            c = self.const(tuple(syms))
            return [
                *self.primitive("long", idx, ind),
                f"{ind}if not 0 <= {idx} < {len(syms)}:",
                f"{ind}    raise _bad_enum({idx}, {len(syms)})",
                f"{ind}{out} = {c}[{idx}]",
            ]
        if t == "fixed":
            size = int(s["size"])
            return [f"{ind}{out} = _b64(buf[pos:pos + {size}])", f"{ind}pos += {size}"]
        if t == "array":
            return self.block(s["items"], out, ind, is_map=False)
        if t == "map":
            return self.block(s["values"], out, ind, is_map=True)
        if isinstance(t, str) and t in PRIMITIVES:
            return self.primitive(t, out, ind)
        raise Unsupported(f"type {t!r}")

    def primitive(self, t: str, out: str, ind: str, raw_bytes: bool = False) -> list[str]:
        if t in ("int", "long"):
            b = self.var("b")
            return [
                f"{ind}{b} = buf[pos]",
                f"{ind}if {b} < 128:",
                f"{ind}    pos += 1",
                f"{ind}    {out} = ({b} >> 1) ^ -({b} & 1)",
                f"{ind}else:",
                f"{ind}    {out}, pos = _long(buf, pos)",
            ]
        if t in ("string", "bytes"):
            n = self.var("n")
            value = f"buf[pos:pos + {n}]"
            if t == "string":
                value = f"{value}.decode()"
            elif not raw_bytes:
                value = f"_b64({value})"
            return [
                *self.primitive("long", n, ind),
                f"{ind}if {n} < 0:",
                f"{ind}    raise _negative('length', {n})",
                f"{ind}{out} = {value}",
                f"{ind}pos += {n}",
            ]
        if t == "null":
            return [f"{ind}{out} = None"]
        if t == "boolean":
            return [f"{ind}{out} = buf[pos] != 0", f"{ind}pos += 1"]
        if t == "float":
            return [f"{ind}{out} = _unpack_f(buf, pos)[0]", f"{ind}pos += 4"]
        if t == "double":
            return [f"{ind}{out} = _unpack_d(buf, pos)[0]", f"{ind}pos += 8"]
        raise Unsupported(f"primitive {t!r}")

    def union(self, branches: list[Any], out: str, ind: str) -> list[str]:
        idx = self.var("i")
        lines = self.primitive("long", idx, ind)
        for k, branch in enumerate(branches):
            lines.append(f"{ind}{'if' if k == 0 else 'elif'} {idx} == {k}:")
            lines.extend(self.read(branch, out, ind + "    "))
        lines.append(f"{ind}else:")  # an empty union fails to compile: fastavro reads it
        lines.append(f"{ind}    raise _bad_union({idx}, {len(branches)})")
        return lines

    def block(self, item: Any, out: str, ind: str, is_map: bool) -> list[str]:
        if not is_map and self.min_size(item) == 0:  # map entries take a key's bytes at least
            raise Unsupported("array of items that take no bytes")
        count, size, value = self.var("c"), self.var("z"), self.var()
        key = self.var("k")
        lines = [
            f"{ind}{out} = {{}}" if is_map else f"{ind}{out} = []",
            f"{ind}while True:",
            *self.primitive("long", count, ind + "    "),
            f"{ind}    if {count} == 0:",
            f"{ind}        break",
            f"{ind}    if {count} < 0:",
            f"{ind}        {count} = -{count}",
            *self.primitive("long", size, ind + "        "),
            f"{ind}    if {count} > len(buf) - pos:",
            f"{ind}        raise IndexError('block count beyond the end of the body')",
            f"{ind}    for _ in range({count}):",
        ]
        inner = ind + "        "
        if is_map:
            lines.extend(self.primitive("string", key, inner))
        lines.extend(self.read(item, value, inner))
        lines.append(
            f"{inner}{out}[{key}] = {value}" if is_map else f"{inner}{out}.append({value})"
        )
        return lines

    def record(self, s: dict[str, Any]) -> str:
        name = s.get("name")
        full = name if isinstance(name, str) else f"<anonymous {id(s)}>"
        fn = self.functions.get(full)
        if fn is not None:
            return fn
        fn = self.functions[full] = self.var("_record")
        body: list[str] = []
        items: list[str] = []
        for f in s.get("fields", []):
            v = self.var()
            body.extend(self.read(f["type"], v, "    "))
            items.append(f"{f['name']!r}: {v}")
        src = [f"def {fn}(buf, pos):", *body, f"    return {{{', '.join(items)}}}, pos"]
        self.sources.append("\n".join(src))
        return fn


def compile_reader(schema: Any) -> Reader | None:
    """A function ``(buf, pos) -> (value, end)`` reading one value of the parsed writer
    ``schema`` starting at ``pos``, or None when the schema needs fastavro."""
    named = dict(schema.get("__named_schemas", {})) if isinstance(schema, dict) else {}
    gen = _Generator(named)
    try:
        top = gen.resolve(schema)
        if isinstance(top, dict) and top.get("type") in ("record", "error"):
            entry = gen.record(top)
        else:
            entry = gen.var("_top")
            lines = gen.read(schema, "value", "    ")
            gen.sources.append(
                "\n".join([f"def {entry}(buf, pos):", *lines, "    return value, pos"])
            )
        code = compile("\n\n".join(gen.sources), "<avro reader>", "exec")
    except (Unsupported, KeyError, TypeError, ValueError, SyntaxError, RecursionError):
        return None  # e.g. nesting deeper than Python's block limit
    exec(code, gen.env)  # noqa: S102 - source generated above from the schema's structure
    reader: Reader = gen.env[entry]
    return reader


def read_compiled(reader: Reader, buf: bytes, start: int, what: str) -> Any:
    """Run ``reader`` over ``buf[start:]``; every failure is a DecodeError."""
    try:
        value, end = reader(buf, start)
    except (IndexError, struct.error) as exc:
        raise DecodeError(f"{what}: Avro body truncated") from exc
    except InvalidAvro as exc:
        raise DecodeError(f"{what}: invalid Avro body: {exc}") from exc
    except Exception as exc:  # invalid UTF-8, dates out of range, recursion...
        raise DecodeError(f"{what}: invalid Avro body: {type(exc).__name__}: {exc}") from exc
    size = len(buf)
    if end > size:
        raise DecodeError(f"{what}: Avro body truncated")
    if end < size:
        raise DecodeError(f"{what}: {size - end} trailing byte(s) after the Avro body")
    return value
