"""CloudEventsDecoder: structured, binary and auto modes yield the same envelope."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import fastavro
import pytest

from bridge.decode.avro import AvroDecoder
from bridge.decode.cloudevents import CloudEventsDecoder
from bridge.decode.json import JsonDecoder
from bridge.errors import DecodeError
from bridge.models import Headers, Record

DATA = {"user": {"id": "u-1", "email": "ann@example.com"}, "order": {"total": 19.99}}
ATTRS = {
    "specversion": "1.0",
    "id": "evt-1",
    "source": "/shop/orders",
    "type": "com.example.order.placed",
    "time": "2024-05-01T12:30:00Z",
    "datacontenttype": "application/json",
    "tenant": "eu",  # an extension attribute
}
ENVELOPE = {**ATTRS, "data": DATA}


def rec(value: bytes | None, headers: Headers = ()) -> Record:
    return Record(topic="t", partition=0, offset=1, key=b"k", value=value, headers=headers)


def structured_record(event: dict[str, Any], *, header: bool = True) -> Record:
    headers: Headers = (
        (("content-type", b"application/cloudevents+json; charset=UTF-8"),) if header else ()
    )
    return rec(json.dumps(event).encode(), headers)


def binary_record(attrs: dict[str, str], value: bytes | None) -> Record:
    headers: list[tuple[str, bytes | None]] = [
        (f"ce_{k}", v.encode()) for k, v in attrs.items() if k != "datacontenttype"
    ]
    if "datacontenttype" in attrs:
        headers.append(("content-type", attrs["datacontenttype"].encode()))
    headers.append(("traceparent", b"00-abc-def-01"))  # unrelated header: ignored
    return rec(value, tuple(headers))


def test_all_modes_produce_the_same_envelope() -> None:
    inner = JsonDecoder()
    structured = structured_record(ENVELOPE)
    structured_no_header = structured_record(ENVELOPE, header=False)
    binary = binary_record(ATTRS, json.dumps(DATA).encode())

    results = [
        CloudEventsDecoder(inner, "structured").decode(structured),
        CloudEventsDecoder(inner, "structured").decode(structured_no_header),
        CloudEventsDecoder(inner, "binary").decode(binary),
        CloudEventsDecoder(inner, "auto").decode(structured),
        CloudEventsDecoder(inner, "auto").decode(structured_no_header),
        CloudEventsDecoder(inner, "auto").decode(binary),
    ]
    for result in results:
        assert result == ENVELOPE
    assert results[2]["type"] == "com.example.order.placed"
    assert results[2]["data"]["user"]["id"] == "u-1"


def test_structured_data_base64_goes_through_inner_decoder() -> None:
    event = {**ATTRS, "data_base64": base64.b64encode(json.dumps(DATA).encode()).decode()}
    out = CloudEventsDecoder(JsonDecoder(), "structured").decode(structured_record(event))
    assert out == ENVELOPE
    assert "data_base64" not in out


def test_data_base64_with_avro_inner_and_binary_avro() -> None:
    schema = {"type": "record", "name": "P", "fields": [{"name": "sku", "type": "string"}]}
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(schema), {"sku": "A-1"})
    attrs = {**ATTRS, "datacontenttype": "application/avro"}
    decoder = CloudEventsDecoder(AvroDecoder(schema), "auto")

    event = {**attrs, "data_base64": base64.b64encode(buf.getvalue()).decode()}
    from_structured = decoder.decode(structured_record(event))
    from_binary = decoder.decode(binary_record(attrs, buf.getvalue()))
    assert from_structured == from_binary == {**attrs, "data": {"sku": "A-1"}}


def test_text_data() -> None:
    attrs = {**ATTRS, "datacontenttype": "text/plain"}
    event = {**attrs, "data_base64": base64.b64encode("héllo".encode()).decode()}
    decoder = CloudEventsDecoder(JsonDecoder(), "auto")
    assert decoder.decode(structured_record(event))["data"] == "héllo"
    assert decoder.decode(binary_record(attrs, "héllo".encode()))["data"] == "héllo"


def test_event_without_data() -> None:
    decoder = CloudEventsDecoder(JsonDecoder(), "auto")
    attrs = {k: v for k, v in ATTRS.items() if k != "datacontenttype"}
    assert decoder.decode(structured_record(attrs))["data"] is None
    assert decoder.decode(binary_record(attrs, None)) == {**attrs, "data": None}


@pytest.mark.parametrize("mode", ["structured", "binary"])
def test_missing_required_attributes_are_named(mode: str) -> None:
    attrs = {k: v for k, v in ATTRS.items() if k not in ("id", "source")}
    record = (
        structured_record({**attrs, "data": DATA})
        if mode == "structured"
        else binary_record(attrs, json.dumps(DATA).encode())
    )
    with pytest.raises(DecodeError, match="missing required attribute.*id, source"):
        CloudEventsDecoder(JsonDecoder(), mode).decode(record)  # type: ignore[arg-type]


def test_empty_required_attribute_counts_as_missing() -> None:
    with pytest.raises(DecodeError, match="type"):
        CloudEventsDecoder(JsonDecoder(), "structured").decode(
            structured_record({**ENVELOPE, "type": ""})
        )


def test_auto_rejects_plain_records() -> None:
    decoder = CloudEventsDecoder(JsonDecoder(), "auto")
    with pytest.raises(DecodeError, match="not a CloudEvent"):
        decoder.decode(rec(json.dumps(DATA).encode()))
    with pytest.raises(DecodeError, match="not a CloudEvent"):
        decoder.decode(rec(b"\x00\x00\x00\x00\x01\x02"))
    with pytest.raises(DecodeError, match="not a CloudEvent"):
        decoder.decode(rec(None))


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (b"[1, 2]", "must be a JSON object"),
        (b"{oops", "not valid JSON"),
        (json.dumps({**ENVELOPE, "data_base64": "e30="}).encode(), "both 'data' and"),
        (json.dumps({**ATTRS, "data_base64": "%%%"}).encode(), "not valid base64"),
        (json.dumps({**ATTRS, "data_base64": 5}).encode(), "must be a string"),
    ],
)
def test_structured_errors(value: bytes, match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        CloudEventsDecoder(JsonDecoder(), "structured").decode(rec(value))


def test_binary_errors() -> None:
    decoder = CloudEventsDecoder(JsonDecoder(), "binary")
    bad_header = binary_record(ATTRS, b"{}")
    bad_header = rec(bad_header.value, (*bad_header.headers, ("ce_tenant", b"\xff\xfe")))
    with pytest.raises(DecodeError, match="ce_tenant"):
        decoder.decode(bad_header)
    with pytest.raises(DecodeError, match="invalid JSON"):
        decoder.decode(binary_record(ATTRS, b"{not json"))


def test_binary_last_header_wins_and_names_are_lowercased() -> None:
    record = binary_record(ATTRS, b"{}")
    record = rec(record.value, (*record.headers, ("CE_ID", b"evt-2")))
    assert CloudEventsDecoder(JsonDecoder(), "binary").decode(record)["id"] == "evt-2"


def test_unknown_mode_rejected() -> None:
    with pytest.raises(ValueError, match="mode"):
        CloudEventsDecoder(JsonDecoder(), "sometimes")  # type: ignore[arg-type]
