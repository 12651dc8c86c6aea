"""DecoderSettings / RegistrySettings validation and build_decoder."""

from __future__ import annotations

import io
import json
import shutil
import struct
from pathlib import Path
from typing import Any

import fastavro
import pytest
from pydantic import SecretStr, ValidationError

from bridge.decode.avro import AvroDecoder, ConfluentAvroDecoder
from bridge.decode.cloudevents import CloudEventsDecoder
from bridge.decode.factory import build_decoder
from bridge.decode.json import JsonDecoder
from bridge.decode.registry import SchemaRegistryClient
from bridge.decode.settings import DecoderSettings, RegistrySettings
from bridge.errors import ConfigError
from bridge.models import Record

from .conftest import SCHEMAS, RegistryServer


def rec(value: bytes, headers: tuple[tuple[str, bytes | None], ...] = ()) -> Record:
    return Record(topic="t", partition=0, offset=0, key=None, value=value, headers=headers)


# -- settings ------------------------------------------------------------------------


def test_decoder_settings_defaults_and_yaml_keys() -> None:
    assert DecoderSettings() == DecoderSettings(format="json", cloudevents="none")
    s = DecoderSettings.model_validate({"format": "avro", "schema": "schemas/x.avsc"})
    assert s.schema_path == "schemas/x.avsc"
    assert (
        DecoderSettings.model_validate(
            {"format": "confluent_avro", "reader_schema": "r.avsc", "cloudevents": "auto"}
        ).reader_schema
        == "r.avsc"
    )


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"format": "avro"}, "needs 'schema'"),
        ({"format": "json", "schema": "x.avsc"}, "only used by format 'avro'"),
        ({"format": "avro", "schema": "x.avsc", "reader_schema": "y"}, "reader_schema"),
        ({"format": "protobuf"}, "format"),
        ({"cloudevents": "yes"}, "cloudevents"),
        ({"fromat": "json"}, "fromat"),
    ],
)
def test_decoder_settings_rejects(data: dict[str, Any], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        DecoderSettings.model_validate(data)


def test_settings_are_frozen() -> None:
    s = DecoderSettings()
    with pytest.raises(ValidationError):
        s.format = "avro"  # type: ignore[misc]


def test_registry_settings() -> None:
    s = RegistrySettings(url="https://sr.example:8081/", username="u", password=SecretStr("p"))
    assert s.url == "https://sr.example:8081"
    assert s.timeout_s == 5 and s.cache_size == 1000 and s.verify_tls is True
    assert RegistrySettings.model_validate(
        {"url": "http://127.0.0.1:1/apis/ccompat/v7", "bearer_token": "t"}
    ).bearer_token == SecretStr("t")


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"url": "ftp://x"}, "http"),
        ({"url": "https://u:p@sr.example"}, "credentials"),
        ({"url": "https://sr", "username": "u"}, "together"),
        ({"url": "https://sr", "password": "p"}, "together"),
        ({"url": "https://sr", "username": "u", "password": "p", "bearer_token": "t"}, "not both"),
        ({"url": "https://sr", "client_key_file": "k.pem"}, "client_cert_file"),
        ({"url": "https://sr", "timeout_s": 0}, "timeout_s"),
        ({"url": "https://sr", "cache_size": 0}, "cache_size"),
        ({"url": "https://sr", "extra": 1}, "extra"),
    ],
)
def test_registry_settings_rejects(data: dict[str, Any], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        RegistrySettings.model_validate(data)


# -- build_decoder --------------------------------------------------------------------


def test_build_json() -> None:
    decoder = build_decoder(DecoderSettings(), None, Path("."))
    assert isinstance(decoder, JsonDecoder)
    assert decoder.decode(rec(b'{"a": 1}')) == {"a": 1}


def test_build_avro_resolves_relative_schema(tmp_path: Path) -> None:
    (tmp_path / "schemas").mkdir()
    shutil.copy(SCHEMAS / "order_event.avsc", tmp_path / "schemas" / "order_event.avsc")
    settings = DecoderSettings.model_validate(
        {"format": "avro", "schema": "schemas/order_event.avsc"}
    )
    decoder = build_decoder(settings, None, tmp_path)
    assert isinstance(decoder, AvroDecoder)
    assert decoder.source == str(tmp_path / "schemas" / "order_event.avsc")


def test_build_avro_bad_schema_names_file(tmp_path: Path) -> None:
    (tmp_path / "bad.avsc").write_text('{"type": "recrod"}')
    settings = DecoderSettings.model_validate({"format": "avro", "schema": "bad.avsc"})
    with pytest.raises(ConfigError, match="bad.avsc"):
        build_decoder(settings, None, tmp_path)
    missing = DecoderSettings.model_validate({"format": "avro", "schema": "nope.avsc"})
    with pytest.raises(ConfigError, match="nope.avsc"):
        build_decoder(missing, None, tmp_path)


def test_build_confluent_needs_registry() -> None:
    with pytest.raises(ConfigError, match="schema registry"):
        build_decoder(DecoderSettings(format="confluent_avro"), None, Path("."))


def test_build_confluent_with_reader_and_cloudevents(
    registry_server: RegistryServer, tmp_path: Path
) -> None:
    writer = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]}
    reader = {
        "type": "record",
        "name": "R",
        "fields": [{"name": "a", "type": "long"}, {"name": "b", "type": "string", "default": "x"}],
    }
    (tmp_path / "reader.avsc").write_text(json.dumps(reader))
    sid = registry_server.state.add(writer)
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(writer), {"a": 3})
    value = b"\x00" + struct.pack(">I", sid) + buf.getvalue()

    with SchemaRegistryClient(registry_server.url) as client:
        plain = build_decoder(
            DecoderSettings.model_validate(
                {"format": "confluent_avro", "reader_schema": "reader.avsc"}
            ),
            client,
            tmp_path,
        )
        assert isinstance(plain, ConfluentAvroDecoder)
        assert plain.decode(rec(value)) == {"a": 3, "b": "x"}

        wrapped = build_decoder(
            DecoderSettings(format="confluent_avro", cloudevents="binary"), client, tmp_path
        )
        assert isinstance(wrapped, CloudEventsDecoder)
        headers = (
            ("ce_specversion", b"1.0"),
            ("ce_id", b"1"),
            ("ce_source", b"/s"),
            ("ce_type", b"t"),
        )
        assert wrapped.decode(rec(value, headers)) == {
            "specversion": "1.0",
            "id": "1",
            "source": "/s",
            "type": "t",
            "data": {"a": 3},
        }
