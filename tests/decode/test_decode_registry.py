"""SchemaRegistryClient over real HTTP against the in-test Confluent-API server."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time

import pytest
from pydantic import SecretStr

from bridge.decode.registry import (
    SchemaNotFoundError,
    SchemaRegistryClient,
    SchemaRegistryRequestError,
)
from bridge.decode.schema_cache import LruCache
from bridge.decode.settings import RegistrySettings
from bridge.errors import ConfigError, DecodeError, SchemaRegistryUnavailable

from .conftest import RegistryServer

SCHEMA = {"type": "record", "name": "A", "fields": [{"name": "x", "type": "int"}]}


def test_get_schema_and_cache_hit_avoids_second_request(registry_server: RegistryServer) -> None:
    sid = registry_server.state.add(SCHEMA)
    with SchemaRegistryClient(registry_server.url) as client:
        first = client.get_schema(sid)
        second = client.get_schema(sid)
    assert first is second
    assert json.loads(first.schema) == SCHEMA
    assert first.schema_type == "AVRO"
    assert registry_server.state.gets() == 1
    assert client.requests_sent == 1


def test_basic_auth_header_sent(registry_server: RegistryServer) -> None:
    registry_server.state.basic_auth = ("svc", "s3cret")
    sid = registry_server.state.add(SCHEMA)
    settings = RegistrySettings(
        url=registry_server.url, username="svc", password=SecretStr("s3cret")
    )
    with SchemaRegistryClient.from_settings(settings) as client:
        client.get_schema(sid)
    sent = registry_server.state.requests[-1].headers["Authorization"]
    assert sent == "Basic " + base64.b64encode(b"svc:s3cret").decode()


def test_bearer_auth_header_sent(registry_server: RegistryServer) -> None:
    registry_server.state.bearer_token = "tok-123"
    sid = registry_server.state.add(SCHEMA)
    settings = RegistrySettings(url=registry_server.url, bearer_token=SecretStr("tok-123"))
    with SchemaRegistryClient.from_settings(settings) as client:
        client.get_schema(sid)
    assert registry_server.state.requests[-1].headers["Authorization"] == "Bearer tok-123"


def test_no_auth_header_without_credentials(registry_server: RegistryServer) -> None:
    sid = registry_server.state.add(SCHEMA)
    with SchemaRegistryClient(registry_server.url) as client:
        client.get_schema(sid)
    assert "Authorization" not in registry_server.state.requests[-1].headers


def test_wrong_credentials_are_transient_and_never_logged(
    registry_server: RegistryServer, caplog: pytest.LogCaptureFixture
) -> None:
    registry_server.state.basic_auth = ("svc", "right")
    sid = registry_server.state.add(SCHEMA)
    client = SchemaRegistryClient(registry_server.url, username="svc", password="wrong-pw")
    with caplog.at_level(logging.DEBUG), pytest.raises(SchemaRegistryUnavailable) as info:
        client.get_schema(sid)
    client.close()
    assert "401" in str(info.value)
    assert "wrong-pw" not in caplog.text
    assert "wrong-pw" not in str(info.value)
    assert "wrong-pw" not in repr(client)


def test_unknown_id_is_permanent_and_negatively_cached(registry_server: RegistryServer) -> None:
    client = SchemaRegistryClient(registry_server.url, negative_ttl_s=0.2)
    with pytest.raises(SchemaNotFoundError) as info:
        client.get_schema(42)
    assert not isinstance(info.value, SchemaRegistryUnavailable)
    assert isinstance(info.value, DecodeError)
    assert "42" in str(info.value)
    with pytest.raises(SchemaNotFoundError):
        client.get_schema(42)
    assert registry_server.state.gets() == 1  # second miss answered from the negative cache
    time.sleep(0.25)  # the behaviour under test: the 0.2 s negative TTL runs out
    registry_server.state.add(SCHEMA)  # id 1
    registry_server.state.schemas[42] = registry_server.state.schemas.pop(1)
    assert json.loads(client.get_schema(42).schema) == SCHEMA  # TTL over: asked again
    assert registry_server.state.gets() == 2
    client.close()


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_server_errors_are_transient(registry_server: RegistryServer, status: int) -> None:
    registry_server.state.fail_status = status
    with (
        SchemaRegistryClient(registry_server.url) as client,
        pytest.raises(SchemaRegistryUnavailable, match=str(status)),
    ):
        client.get_schema(1)


def test_404_without_registry_error_code_means_wrong_url(registry_server: RegistryServer) -> None:
    with (
        SchemaRegistryClient(registry_server.url + "/wrong/prefix") as client,
        pytest.raises(SchemaRegistryUnavailable, match="404"),
    ):
        client.get_schema(1)


def test_other_client_errors_are_permanent(registry_server: RegistryServer) -> None:
    registry_server.state.fail_status = 422
    registry_server.state.fail_body = b'{"error_code":42201,"message":"invalid"}'
    with SchemaRegistryClient(registry_server.url) as client, pytest.raises(DecodeError) as info:
        client.get_schema(1)
    assert not isinstance(info.value, SchemaRegistryUnavailable)


def test_unreadable_answer_is_transient(registry_server: RegistryServer) -> None:
    registry_server.state.fail_status = 200
    registry_server.state.fail_body = b'{"nope": 1}'
    with (
        SchemaRegistryClient(registry_server.url) as client,
        pytest.raises(SchemaRegistryUnavailable, match="unreadable"),
    ):
        client.get_schema(1)


def test_registry_down_is_transient(closed_port_url: str) -> None:
    with (
        SchemaRegistryClient(closed_port_url, timeout_s=2) as client,
        pytest.raises(SchemaRegistryUnavailable, match="unreachable"),
    ):
        client.get_schema(1)


def test_timeout_is_transient(registry_server: RegistryServer) -> None:
    registry_server.state.add(SCHEMA)
    registry_server.state.delay_s = 1.0
    with (
        SchemaRegistryClient(registry_server.url, timeout_s=0.2) as client,
        pytest.raises(SchemaRegistryUnavailable, match="timed out"),
    ):
        client.get_schema(1)


def test_register_and_list_subjects(registry_server: RegistryServer) -> None:
    with SchemaRegistryClient(registry_server.url) as client:
        sid = client.register("orders/value", SCHEMA)
        assert client.register("orders/value", json.dumps(SCHEMA)) == sid
        assert client.list_subjects() == ["orders/value"]
        assert json.loads(client.get_schema(sid).schema) == SCHEMA
    post = next(r for r in registry_server.state.requests if r.method == "POST")
    assert post.path == "/subjects/orders%2Fvalue/versions"
    assert post.headers["Content-Type"] == "application/vnd.schemaregistry.v1+json"
    assert json.loads(json.loads(post.body)["schema"]) == SCHEMA
    assert "schemaType" not in json.loads(post.body)


def test_register_refused(registry_server: RegistryServer) -> None:
    registry_server.state.fail_status = 409
    registry_server.state.fail_body = b'{"error_code":409,"message":"incompatible"}'
    with (
        SchemaRegistryClient(registry_server.url) as client,
        pytest.raises(SchemaRegistryRequestError, match="incompatible") as info,
    ):
        client.register("s", SCHEMA)
    assert info.value.status == 409


def test_concurrent_lookups(registry_server: RegistryServer) -> None:
    ids = [
        registry_server.state.add({"type": "enum", "name": f"E{i}", "symbols": ["A"]})
        for i in range(20)
    ]
    errors: list[BaseException] = []
    client = SchemaRegistryClient(registry_server.url, cache_size=8)

    def worker() -> None:
        try:
            for _ in range(3):
                for sid in ids:
                    assert json.loads(client.get_schema(sid).schema)["name"] == f"E{sid - 1}"
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    client.close()
    assert errors == []


def test_lru_cache_evicts_least_recently_used() -> None:
    cache: LruCache[int, str] = LruCache(2)
    cache.put(1, "a")
    cache.put(2, "b")
    assert cache.get(1) == "a"  # 1 is now most recent
    cache.put(3, "c")
    assert cache.get(2) is None
    assert cache.get(1) == "a" and cache.get(3) == "c"
    assert len(cache) == 2


def test_tls_material_must_exist(tmp_path: object) -> None:
    with pytest.raises(ConfigError, match="missing-ca.pem"):
        SchemaRegistryClient("https://127.0.0.1:1", ca_file="/nonexistent/missing-ca.pem")


def test_repr_hides_secrets() -> None:
    settings = RegistrySettings(
        url="https://registry.internal", username="u", password=SecretStr("hunter2")
    )
    assert "hunter2" not in repr(settings)
    client = SchemaRegistryClient.from_settings(settings)
    assert "hunter2" not in repr(client)
    client.close()
