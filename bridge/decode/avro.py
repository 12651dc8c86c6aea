"""Avro decoding: a fixed schema file, or the Confluent wire format with a schema registry.

Decoded values are JSON-like so rules need no Avro knowledge:

==========================  ================================================================
Avro type                   Python value handed to the rules
==========================  ================================================================
record / map                ``dict`` (field order kept)
array                       ``list``
enum / string               ``str``
union                       the branch's value (no ``{"type": value}`` wrapping)
int / long / float / double ``int`` / ``float``
bytes / fixed               ``str``: standard base64 (with padding) of the raw bytes
decimal (logical)           ``float`` (Braze properties and purchase prices are JSON numbers;
                            a value outside float's 15-16 significant digits is rounded)
uuid (logical)              ``str`` (canonical 8-4-4-4-12 form)
timestamp-millis/-micros    ``str``: ISO 8601 in UTC with a ``Z`` suffix, e.g.
                            ``2024-05-01T12:30:00.250000Z`` (fraction omitted when zero) —
                            the format Braze's ``time`` fields accept as is
local-timestamp-*           ``str``: ISO 8601 without a zone
date                        ``str``: ``YYYY-MM-DD``
time-millis / time-micros   ``str``: ``HH:MM:SS[.ffffff]``
==========================  ================================================================

``AvroDecoder`` reads bare (schemaless) Avro bodies with one schema parsed at start-up.
``ConfluentAvroDecoder`` reads the Confluent wire format: byte 0 is the magic ``0x00``,
bytes 1-4 the big-endian schema id, the rest the Avro body written with that schema.
Writer schemas come from the registry (cached by id, parsed once per id). With a reader
schema, Avro schema resolution projects every record onto the reader's shape (fields
added in the reader take their defaults, fields it lacks are dropped, promotions such as
int -> long apply); an incompatible writer schema is a ``DecodeError``.

Bodies are read by code generated once per writer schema
(:mod:`bridge.decode.avro_compiled`, 2-3x faster than fastavro plus conversion, same
values); fastavro reads them when a reader schema asks for resolution or the generator does
not handle a schema.

Confluent schema references (a schema importing named types from other subjects) are
not resolved: such a schema fails to parse and its records are dead-lettered.
"""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastavro
from fastavro.read import SchemaResolutionError

from bridge.decode.avro_compiled import Reader, compile_reader, read_compiled
from bridge.decode.avro_values import to_jsonable
from bridge.decode.registry import SchemaRegistryClient
from bridge.decode.schema_cache import LruCache
from bridge.errors import ConfigError, DecodeError
from bridge.models import Record

ParsedSchema = Any  # fastavro's parsed schema: a dict (or list for a top-level union)

MAGIC_BYTE = 0
HEADER_SIZE = 5


def load_schema_file(path: Path, *, field: str = "schema") -> ParsedSchema:
    """Read and parse an ``.avsc`` file; any problem is a ConfigError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read Avro schema: {exc.strerror or exc}", file=str(path)
        ) from exc
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"invalid JSON in Avro schema: {exc}", file=str(path)) from exc
    try:
        return fastavro.parse_schema(raw)
    except Exception as exc:  # fastavro raises SchemaParseException, ValueError, KeyError...
        raise ConfigError(
            f"invalid Avro schema: {type(exc).__name__}: {exc}", file=str(path), field=field
        ) from exc


_Conv = Callable[[Any], Any]
_BUSY = object()


def avro_encode(schema: Any, value: Any) -> bytes:
    """Encode ``value`` with a parsed Avro ``schema`` (schemaless: no container, no header).

    The inverse of :class:`AvroDecoder`, for ``preview`` and the console, which take JSON."""
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema, value)
    return buf.getvalue()


def _b64(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    return to_jsonable(value)


_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "string"})


def compile_converter(schema: Any, names: dict[str, Any] | None = None) -> _Conv | None:
    """A converter that touches only the parts of a value that need it (bytes, fixed,
    logical types), or None when fastavro's output is already JSON-like. Walking every
    value with :func:`to_jsonable` costs as much as decoding it."""
    names = {} if names is None else names
    if isinstance(schema, str):
        return _named_converter(schema, names)
    if isinstance(schema, list):
        return to_jsonable if any(compile_converter(b, names) for b in schema) else None
    if not isinstance(schema, dict):
        return to_jsonable
    if schema.get("logicalType"):
        return to_jsonable
    t = schema.get("type")
    if t in ("record", "error"):
        return _record_converter(schema, names)
    if t == "array":
        item = compile_converter(schema.get("items"), names)
        return None if item is None else (lambda v: [item(x) for x in v])
    if t == "map":
        val = compile_converter(schema.get("values"), names)
        return None if val is None else (lambda v: {k: val(x) for k, x in v.items()})
    if t in ("fixed", "bytes"):
        if t == "fixed" and isinstance(schema.get("name"), str):
            names[schema["name"]] = schema
        return _b64
    if t == "enum":
        if isinstance(schema.get("name"), str):
            names[schema["name"]] = schema
        return None
    if isinstance(t, dict | list | str) and t not in _PRIMITIVES:
        return compile_converter(t, names)
    return None


def _named_converter(schema: str, names: dict[str, Any]) -> _Conv | None:
    """A type given by name: ``bytes``, a named type defined earlier (a recursive reference
    to a record still being compiled converts generically), or a primitive (None)."""
    if schema == "bytes":
        return _b64
    if schema in names:
        named = names[schema]
        return to_jsonable if named is _BUSY else compile_converter(named, names)
    return None


def _record_converter(schema: dict[str, Any], names: dict[str, Any]) -> _Conv | None:
    """Convert, in place, only the fields whose type needs it (None when none does)."""
    name = schema.get("name")
    if isinstance(name, str):
        names[name] = _BUSY
    fields = []
    for f in schema.get("fields", []):
        conv = compile_converter(f["type"], names)
        if conv is not None:
            fields.append((f["name"], conv))
    if isinstance(name, str):
        names[name] = schema
    if not fields:
        return None

    def record(v: Any) -> Any:
        if not isinstance(v, dict):
            return to_jsonable(v)
        for n, conv in fields:
            x = v.get(n)
            if x is not None:
                v[n] = conv(x)
        return v

    return record


_converters: dict[int, tuple[Any, _Conv | None]] = {}


def _converter(schema: Any) -> _Conv | None:
    hit = _converters.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    conv = compile_converter(schema)
    if len(_converters) > 10_000:
        _converters.clear()
    _converters[id(schema)] = (schema, conv)
    return conv


def _read_body(
    body: bytes | memoryview, writer: ParsedSchema, reader: ParsedSchema | None, what: str
) -> Any:
    stream = io.BytesIO(body)
    try:
        value = fastavro.schemaless_reader(stream, writer, reader)
    except SchemaResolutionError as exc:
        raise DecodeError(f"{what}: writer schema incompatible with reader schema: {exc}") from exc
    except EOFError as exc:
        raise DecodeError(f"{what}: Avro body truncated") from exc
    except Exception as exc:  # bad varints, invalid UTF-8, out-of-range union index...
        raise DecodeError(f"{what}: invalid Avro body: {type(exc).__name__}: {exc}") from exc
    remaining = len(body) - stream.tell()
    if remaining:
        raise DecodeError(f"{what}: {remaining} trailing byte(s) after the Avro body")
    conv = _converter(reader if reader is not None else writer)
    return value if conv is None else conv(value)


class AvroDecoder:
    """Decode bare Avro bodies written with one fixed schema."""

    name = "avro"

    def __init__(self, schema: ParsedSchema | dict[str, Any], *, source: str = "<schema>") -> None:
        try:
            self._schema = fastavro.parse_schema(schema)
        except Exception as exc:
            raise ConfigError(f"invalid Avro schema: {exc}", file=source) from exc
        self.source = source
        self._compiled = compile_reader(self._schema)

    @classmethod
    def from_file(cls, path: Path) -> AvroDecoder:
        return cls(load_schema_file(path), source=str(path))

    def decode(self, record: Record) -> Any:
        if record.value is None:
            raise DecodeError("record has no value (tombstone)")
        if self._compiled is not None:
            return read_compiled(self._compiled, record.value, 0, "avro")
        return _read_body(record.value, self._schema, None, "avro")


class ConfluentAvroDecoder:
    """Decode Confluent wire-format Avro, fetching writer schemas from the registry."""

    name = "confluent_avro"

    def __init__(
        self,
        registry: SchemaRegistryClient,
        *,
        reader_schema: ParsedSchema | None = None,
        cache_size: int = 1000,
    ) -> None:
        self._registry = registry
        self._reader = reader_schema
        self._parsed: LruCache[int, tuple[ParsedSchema, Reader | None]] = LruCache(cache_size)
        self._parse_lock = threading.Lock()
        self._last: tuple[int, ParsedSchema, Reader | None, str] | None = None

    @classmethod
    def with_reader_file(
        cls, registry: SchemaRegistryClient, reader_schema: Path, *, cache_size: int = 1000
    ) -> ConfluentAvroDecoder:
        parsed = load_schema_file(reader_schema, field="reader_schema")
        return cls(registry, reader_schema=parsed, cache_size=cache_size)

    def decode(self, record: Record) -> Any:
        value = record.value
        if value is None:
            raise DecodeError("record has no value (tombstone)")
        if len(value) < HEADER_SIZE:
            raise DecodeError(
                f"confluent_avro: record is {len(value)} byte(s), shorter than the 5-byte "
                "wire-format header"
            )
        if value[0] != MAGIC_BYTE:
            raise DecodeError(
                f"confluent_avro: unknown magic byte 0x{value[0]:02x} (expected 0x00); "
                "not Confluent wire format"
            )
        schema_id = int.from_bytes(value[1:HEADER_SIZE], "big")
        last = self._last  # a topic's records mostly share one schema id
        if last is None or last[0] != schema_id:
            writer, compiled = self._writer_schema(schema_id)
            last = self._last = (
                schema_id,
                writer,
                compiled,
                f"confluent_avro schema id {schema_id}",
            )
        if last[2] is not None:
            return read_compiled(last[2], value, HEADER_SIZE, last[3])
        return _read_body(memoryview(value)[HEADER_SIZE:], last[1], self._reader, last[3])

    def _writer_schema(self, schema_id: int) -> tuple[ParsedSchema, Reader | None]:
        """The parsed writer schema of ``schema_id`` and, when no schema resolution is
        needed, its compiled reader (see :mod:`bridge.decode.avro_compiled`)."""
        parsed = self._parsed.get(schema_id)
        if parsed is not None:
            return parsed
        registered = self._registry.get_schema(schema_id)  # may raise (not found / down)
        if registered.schema_type.upper() != "AVRO":
            raise DecodeError(
                f"schema id {schema_id} is a {registered.schema_type} schema, not Avro"
            )
        with self._parse_lock:
            parsed = self._parsed.get(schema_id)
            if parsed is None:
                try:
                    schema = fastavro.parse_schema(json.loads(registered.schema))
                except Exception as exc:
                    raise DecodeError(
                        f"schema id {schema_id} from the registry is not a usable Avro "
                        f"schema: {type(exc).__name__}: {exc}"
                    ) from exc
                same = self._reader is None or self._reader == schema
                parsed = (schema, compile_reader(schema) if same else None)
                self._parsed.put(schema_id, parsed)
        return parsed
