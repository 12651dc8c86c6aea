"""The schema-compiled converter gives exactly what the generic walk gives."""

from __future__ import annotations

import copy
import datetime as dt
import io
import uuid
from decimal import Decimal

import fastavro

from bridge.decode.avro import compile_converter, to_jsonable

SCHEMA = {
    "type": "record",
    "name": "Ev",
    "namespace": "t",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "n", "type": "long"},
        {"name": "blob", "type": ["null", "bytes"]},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {
            "name": "price",
            "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2},
        },
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {
            "name": "parts",
            "type": {
                "type": "array",
                "items": {
                    "type": "record",
                    "name": "Part",
                    "fields": [
                        {"name": "sku", "type": "string"},
                        {"name": "raw", "type": {"type": "fixed", "name": "F4", "size": 4}},
                    ],
                },
            },
        },
        {"name": "more", "type": {"type": "map", "values": "Part"}},
        {"name": "uid", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "color", "type": {"type": "enum", "name": "C", "symbols": ["R", "G"]}},
    ],
}
VALUE = {
    "id": "e1",
    "n": 5,
    "blob": b"\x00\x01",
    "at": dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
    "price": Decimal("12.34"),
    "tags": ["a", "b"],
    "parts": [{"sku": "x", "raw": b"abcd"}],
    "more": {"k": {"sku": "y", "raw": b"wxyz"}},
    "uid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "color": "G",
}


def test_compiled_converter_matches_the_generic_walk() -> None:
    parsed = fastavro.parse_schema(SCHEMA)
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, parsed, VALUE)
    buf.seek(0)
    decoded = fastavro.schemaless_reader(buf, parsed, None)
    expected = to_jsonable(copy.deepcopy(decoded))
    conv = compile_converter(parsed)
    assert conv is not None
    assert conv(decoded) == expected
    assert expected["blob"] == "AAE=" and expected["at"] == "2030-01-01T00:00:00Z"


def test_plain_schema_needs_no_conversion() -> None:
    plain = {
        "type": "record",
        "name": "P",
        "fields": [
            {"name": "a", "type": "string"},
            {"name": "b", "type": ["null", "long"]},
            {"name": "c", "type": {"type": "array", "items": "double"}},
        ],
    }
    assert compile_converter(fastavro.parse_schema(plain)) is None
