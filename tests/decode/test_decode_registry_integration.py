"""Against a real schema registry: Apicurio Registry started by scripts/local_registry.py.

Set ``BRAZE_BRIDGE_SCHEMA_REGISTRY_URL`` (a Confluent-compatible base URL) to use an
already running registry instead. Skipped only when neither Java nor Maven is available
to run Apicurio; any other start-up failure fails the tests.
"""

from __future__ import annotations

import io
import json
import struct
import uuid
from typing import Any

import fastavro
import pytest

from bridge.decode.avro import ConfluentAvroDecoder
from bridge.decode.cloudevents import CloudEventsDecoder
from bridge.decode.factory import build_decoder
from bridge.decode.registry import SchemaNotFoundError, SchemaRegistryClient
from bridge.decode.settings import DecoderSettings, RegistrySettings
from bridge.errors import DecodeError
from bridge.models import Record

from .conftest import REPO, SCHEMAS

pytestmark = pytest.mark.integration


@pytest.fixture
def subject() -> str:
    return f"bridge-test-{uuid.uuid4().hex[:10]}-value"


def wire(schema_id: int, schema: Any, value: Any) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(schema), value)
    return b"\x00" + struct.pack(">I", schema_id) + buf.getvalue()


def rec(value: bytes, headers: tuple[tuple[str, bytes | None], ...] = ()) -> Record:
    return Record(topic="orders", partition=0, offset=0, key=None, value=value, headers=headers)


ORDER = {
    "type": "order_placed",
    "user": {"id": "u-42", "email": "ann@example.com"},
    "order": {"id": "o-1", "total": 42.5, "currency": "EUR"},
    "occurred_at": 1714566600000,  # 2024-05-01T12:30:00Z in millis
}


def test_register_then_decode_via_registry(registry_url: str, subject: str) -> None:
    schema = json.loads((SCHEMAS / "order_event.avsc").read_text())
    with SchemaRegistryClient(registry_url) as admin:
        sid = admin.register(subject, schema)
        assert admin.register(subject, schema) == sid  # idempotent
        assert subject in admin.list_subjects()

    settings = RegistrySettings(url=registry_url)
    with SchemaRegistryClient.from_settings(settings) as client:  # fresh cache
        decoder = build_decoder(DecoderSettings(format="confluent_avro"), client, REPO)
        out = decoder.decode(rec(wire(sid, schema, ORDER)))
        assert out == {**ORDER, "occurred_at": "2024-05-01T12:30:00Z"}
        decoder.decode(rec(wire(sid, schema, ORDER)))
        assert client.requests_sent == 1  # second record served from the cache


def test_evolution_against_real_registry(registry_url: str, subject: str) -> None:
    v1 = {"type": "record", "name": "Signup", "fields": [{"name": "user_id", "type": "string"}]}
    v2 = {
        "type": "record",
        "name": "Signup",
        "fields": [
            {"name": "user_id", "type": "string"},
            {"name": "plan", "type": "string", "default": "free"},
        ],
    }
    with SchemaRegistryClient(registry_url) as client:
        id1 = client.register(subject, v1)
        id2 = client.register(subject, v2)  # backward compatible: new field has a default
        assert id1 != id2
        to_v2 = ConfluentAvroDecoder(client, reader_schema=fastavro.parse_schema(v2))
        assert to_v2.decode(rec(wire(id1, v1, {"user_id": "a"}))) == {
            "user_id": "a",
            "plan": "free",
        }
        to_v1 = ConfluentAvroDecoder(client, reader_schema=fastavro.parse_schema(v1))
        assert to_v1.decode(rec(wire(id2, v2, {"user_id": "b", "plan": "pro"}))) == {"user_id": "b"}


def test_unknown_id_against_real_registry(registry_url: str) -> None:
    with SchemaRegistryClient(registry_url) as client:
        with pytest.raises(SchemaNotFoundError):
            ConfluentAvroDecoder(client).decode(rec(b"\x00\x7f\xff\xff\xf0\x02"))
        with pytest.raises(DecodeError, match="magic"):
            ConfluentAvroDecoder(client).decode(rec(b"\x05\x00\x00\x00\x01\x02"))


def test_cloudevents_binary_with_registry_avro(registry_url: str, subject: str) -> None:
    schema = json.loads((SCHEMAS / "order_event.avsc").read_text())
    with SchemaRegistryClient(registry_url) as client:
        sid = client.register(subject, schema)
        decoder = CloudEventsDecoder(ConfluentAvroDecoder(client), "auto")
        headers = (
            ("ce_specversion", b"1.0"),
            ("ce_id", b"evt-9"),
            ("ce_source", b"/shop"),
            ("ce_type", b"com.example.order.placed"),
            ("content-type", b"application/avro"),
        )
        out = decoder.decode(rec(wire(sid, schema, ORDER), headers))
    assert out["type"] == "com.example.order.placed"
    assert out["data"]["user"]["id"] == "u-42"
    assert out["datacontenttype"] == "application/avro"
