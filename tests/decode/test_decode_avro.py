"""AvroDecoder (fixed schema) and ConfluentAvroDecoder (wire format + registry)."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import struct
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastavro
import pytest

from bridge.decode.avro import AvroDecoder, ConfluentAvroDecoder, load_schema_file, to_jsonable
from bridge.decode.registry import SchemaNotFoundError, SchemaRegistryClient
from bridge.errors import ConfigError, DecodeError, SchemaRegistryUnavailable
from bridge.models import Record

from .conftest import SCHEMAS, RegistryServer

ORDER_VALUE: dict[str, Any] = {
    "type": "order_placed",
    "user": {"id": "u-1", "email": "ann@example.com"},
    "order": {"id": "o-9", "total": 19.99, "currency": "USD"},
    "occurred_at": dt.datetime(2024, 5, 1, 12, 30, 0, 250000, tzinfo=dt.UTC),
}
ORDER_DECODED: dict[str, Any] = {
    "type": "order_placed",
    "user": {"id": "u-1", "email": "ann@example.com"},
    "order": {"id": "o-9", "total": 19.99, "currency": "USD"},
    "occurred_at": "2024-05-01T12:30:00.250000Z",
}

V1 = {
    "type": "record",
    "name": "Signup",
    "fields": [
        {"name": "user_id", "type": "string"},
        {"name": "plan", "type": "string"},
        {"name": "age", "type": "int"},
    ],
}
# v2 adds "country" (with a default), drops "plan", widens age int -> long.
V2 = {
    "type": "record",
    "name": "Signup",
    "fields": [
        {"name": "user_id", "type": "string"},
        {"name": "age", "type": "long"},
        {"name": "country", "type": "string", "default": "unknown"},
    ],
}


def avro_body(schema: Any, value: Any) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(schema), value)
    return buf.getvalue()


def wire(schema_id: int, body: bytes) -> bytes:
    return b"\x00" + struct.pack(">I", schema_id) + body


def rec(value: bytes | None, headers: tuple[tuple[str, bytes | None], ...] = ()) -> Record:
    return Record(topic="t", partition=0, offset=7, key=None, value=value, headers=headers)


# -- AvroDecoder ----------------------------------------------------------------------


def test_avro_decoder_with_example_schema(order_schema: dict[str, Any]) -> None:
    decoder = AvroDecoder.from_file(SCHEMAS / "order_event.avsc")
    assert decoder.decode(rec(avro_body(order_schema, ORDER_VALUE))) == ORDER_DECODED


def test_avro_decoder_null_union_branch(order_schema: dict[str, Any]) -> None:
    value = {**ORDER_VALUE, "user": {"id": "u-2", "email": None}}
    out = AvroDecoder.from_file(SCHEMAS / "order_event.avsc").decode(
        rec(avro_body(order_schema, value))
    )
    assert out["user"] == {"id": "u-2", "email": None}


def test_avro_truncated_trailing_and_tombstone(order_schema: dict[str, Any]) -> None:
    decoder = AvroDecoder.from_file(SCHEMAS / "order_event.avsc")
    body = avro_body(order_schema, ORDER_VALUE)
    with pytest.raises(DecodeError, match="truncated|invalid"):
        decoder.decode(rec(body[:-3]))
    with pytest.raises(DecodeError, match="trailing"):
        decoder.decode(rec(body + b"\x00\x01"))
    with pytest.raises(DecodeError, match="tombstone"):
        decoder.decode(rec(None))


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "invalid JSON"),
        (
            '{"type": "record", "name": "X", "fields": [{"name": "a", "type": "nope"}]}',
            "invalid Avro",
        ),
        ('{"type": "record", "fields": []}', "invalid Avro"),
    ],
)
def test_bad_schema_file_is_config_error(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "broken.avsc"
    path.write_text(content)
    with pytest.raises(ConfigError, match=reason) as info:
        AvroDecoder.from_file(path)
    assert info.value.file == str(path)


def test_missing_schema_file_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_schema_file(tmp_path / "absent.avsc")
    assert "absent.avsc" in str(info.value)


def test_logical_and_complex_types_come_out_json_like() -> None:
    schema = {
        "type": "record",
        "name": "All",
        "fields": [
            {"name": "raw", "type": "bytes"},
            {"name": "fx", "type": {"type": "fixed", "name": "F4", "size": 4}},
            {
                "name": "price",
                "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2},
            },
            {"name": "uid", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "day", "type": {"type": "int", "logicalType": "date"}},
            {"name": "at_ms", "type": {"type": "int", "logicalType": "time-millis"}},
            {"name": "ts_us", "type": {"type": "long", "logicalType": "timestamp-micros"}},
            {"name": "ts_ms0", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {"name": "local", "type": {"type": "long", "logicalType": "local-timestamp-millis"}},
            {"name": "color", "type": {"type": "enum", "name": "C", "symbols": ["RED", "BLUE"]}},
            {"name": "tags", "type": {"type": "array", "items": "string"}},
            {"name": "attrs", "type": {"type": "map", "values": ["null", "long", "string"]}},
            {"name": "ok", "type": "boolean"},
            {"name": "ratio", "type": "float"},
        ],
    }
    uid = uuid.UUID("12345678-1234-5678-1234-567812345678")
    value = {
        "raw": b"\x00\xffhi",
        "fx": b"abcd",
        "price": Decimal("1234.50"),
        "uid": uid,
        "day": dt.date(2024, 2, 29),
        "at_ms": dt.time(13, 45, 1, 500000),
        "ts_us": dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC),
        "ts_ms0": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        "local": dt.datetime(2024, 1, 2, 3, 4, 5),
        "color": "BLUE",
        "tags": ["a", "b"],
        "attrs": {"n": 5, "s": "x", "z": None},
        "ok": True,
        "ratio": 0.5,
    }
    out = AvroDecoder(schema).decode(rec(avro_body(schema, value)))
    assert out == {
        "raw": base64.b64encode(b"\x00\xffhi").decode(),
        "fx": "YWJjZA==",
        "price": 1234.5,
        "uid": str(uid),
        "day": "2024-02-29",
        "at_ms": "13:45:01.500000",
        "ts_us": "2024-01-02T03:04:05.123456Z",
        "ts_ms0": "2024-01-02T03:04:05Z",
        "local": "2024-01-02T03:04:05",
        "color": "BLUE",
        "tags": ["a", "b"],
        "attrs": {"n": 5, "s": "x", "z": None},
        "ok": True,
        "ratio": 0.5,
    }
    json.dumps(out)  # really JSON-serialisable


def test_to_jsonable_converts_non_utc_timestamps() -> None:
    tz = dt.timezone(dt.timedelta(hours=2))
    assert to_jsonable(dt.datetime(2024, 1, 1, 2, 0, tzinfo=tz)) == "2024-01-01T00:00:00Z"


# -- ConfluentAvroDecoder -----------------------------------------------------------------


@pytest.fixture
def client(registry_server: RegistryServer) -> Any:
    c = SchemaRegistryClient(registry_server.url, timeout_s=2)
    yield c
    c.close()


def test_confluent_valid_and_cached(
    registry_server: RegistryServer, client: SchemaRegistryClient, order_schema: dict[str, Any]
) -> None:
    sid = registry_server.state.add(order_schema)
    decoder = ConfluentAvroDecoder(client)
    data = wire(sid, avro_body(order_schema, ORDER_VALUE))
    assert decoder.decode(rec(data)) == ORDER_DECODED
    assert decoder.decode(rec(data)) == ORDER_DECODED
    assert registry_server.state.gets() == 1  # schema fetched once, then cached


def test_confluent_schema_evolution_with_reader_schema(
    registry_server: RegistryServer, client: SchemaRegistryClient
) -> None:
    v1 = registry_server.state.add(V1)
    v2 = registry_server.state.add(V2)
    old = wire(v1, avro_body(V1, {"user_id": "u1", "plan": "pro", "age": 30}))
    new = wire(v2, avro_body(V2, {"user_id": "u2", "age": 41, "country": "FR"}))

    to_v2 = ConfluentAvroDecoder(client, reader_schema=fastavro.parse_schema(V2))
    assert to_v2.decode(rec(old)) == {"user_id": "u1", "age": 30, "country": "unknown"}
    assert to_v2.decode(rec(new)) == {"user_id": "u2", "age": 41, "country": "FR"}

    # Without a reader schema each record keeps its writer's shape.
    plain = ConfluentAvroDecoder(client)
    assert plain.decode(rec(old)) == {"user_id": "u1", "plan": "pro", "age": 30}


def test_confluent_incompatible_reader_schema(
    registry_server: RegistryServer, client: SchemaRegistryClient
) -> None:
    v2 = registry_server.state.add(V2)
    new = wire(v2, avro_body(V2, {"user_id": "u2", "age": 41, "country": "FR"}))
    # V1 requires "plan" (no default) and narrows long -> int: cannot resolve.
    decoder = ConfluentAvroDecoder(client, reader_schema=fastavro.parse_schema(V1))
    with pytest.raises(DecodeError, match="schema id"):
        decoder.decode(rec(new))


def test_confluent_reader_schema_from_file(
    registry_server: RegistryServer, client: SchemaRegistryClient, tmp_path: Path
) -> None:
    path = tmp_path / "reader.avsc"
    path.write_text(json.dumps(V2))
    v1 = registry_server.state.add(V1)
    decoder = ConfluentAvroDecoder.with_reader_file(client, path)
    out = decoder.decode(rec(wire(v1, avro_body(V1, {"user_id": "a", "plan": "p", "age": 1}))))
    assert out == {"user_id": "a", "age": 1, "country": "unknown"}


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (b"\x01\x00\x00\x00\x01\x02", "magic byte 0x01"),
        (b'{"json": true}', "magic byte 0x7b"),
        (b"\x00\x00\x00", "shorter than the 5-byte"),
        (b"", "shorter than the 5-byte"),
    ],
)
def test_confluent_bad_framing(client: SchemaRegistryClient, value: bytes, match: str) -> None:
    with pytest.raises(DecodeError, match=match) as info:
        ConfluentAvroDecoder(client).decode(rec(value))
    assert not isinstance(info.value, SchemaRegistryUnavailable)


def test_confluent_truncated_body(
    registry_server: RegistryServer, client: SchemaRegistryClient, order_schema: dict[str, Any]
) -> None:
    sid = registry_server.state.add(order_schema)
    data = wire(sid, avro_body(order_schema, ORDER_VALUE))
    with pytest.raises(DecodeError, match=f"schema id {sid}"):
        ConfluentAvroDecoder(client).decode(rec(data[:-4]))


def test_confluent_unknown_id_is_permanent(client: SchemaRegistryClient) -> None:
    with pytest.raises(SchemaNotFoundError) as info:
        ConfluentAvroDecoder(client).decode(rec(wire(777, b"\x02")))
    assert isinstance(info.value, DecodeError)
    assert not isinstance(info.value, SchemaRegistryUnavailable)


def test_confluent_registry_down_is_transient(closed_port_url: str) -> None:
    with SchemaRegistryClient(closed_port_url, timeout_s=2) as down:
        with pytest.raises(SchemaRegistryUnavailable):
            ConfluentAvroDecoder(down).decode(rec(wire(1, b"\x02")))


def test_confluent_registry_5xx_is_transient(
    registry_server: RegistryServer, client: SchemaRegistryClient
) -> None:
    registry_server.state.fail_status = 503
    with pytest.raises(SchemaRegistryUnavailable):
        ConfluentAvroDecoder(client).decode(rec(wire(1, b"\x02")))


def test_confluent_non_avro_or_broken_registry_schema(
    registry_server: RegistryServer, client: SchemaRegistryClient
) -> None:
    proto = registry_server.state.add('syntax = "proto3"; message M {}', schema_type="PROTOBUF")
    broken = registry_server.state.add(
        '{"type": "record", "name": "B", "fields": [{"name": "x", "type": "Nope"}]}'
    )
    decoder = ConfluentAvroDecoder(client)
    with pytest.raises(DecodeError, match="PROTOBUF"):
        decoder.decode(rec(wire(proto, b"\x02")))
    with pytest.raises(DecodeError, match="not a usable Avro schema"):
        decoder.decode(rec(wire(broken, b"\x02")))


def test_confluent_tombstone(client: SchemaRegistryClient) -> None:
    with pytest.raises(DecodeError, match="tombstone"):
        ConfluentAvroDecoder(client).decode(rec(None))
