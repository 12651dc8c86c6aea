from __future__ import annotations

from pathlib import Path

import pytest

from bridge.errors import ConfigError
from bridge.settings import load_settings

GOOD = """
kafka: {bootstrap_servers: "127.0.0.1:9092"}
braze: {rest_endpoint: "http://127.0.0.1:4010", api_key: "${BRAZE_API_KEY}"}
rules:
  - name: r1
    topic: orders
    action: campaign_trigger
    campaign_id: c1
    recipient: {external_user_id: $.user.id}
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "bridge.yaml"
    p.write_text(text)
    return p


def test_valid_config_resolves_the_key_from_the_environment(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, GOOD), environ={"BRAZE_API_KEY": "abc"})
    assert s.braze.api_key.get_secret_value() == "abc"
    assert "abc" not in repr(s)
    assert s.topics() == ["orders"]


def test_key_from_a_mounted_file(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("from-file\n")
    text = GOOD.replace("${BRAZE_API_KEY}", "${file:key}")
    s = load_settings(write(tmp_path, text), environ={})
    assert s.braze.api_key.get_secret_value() == "from-file"


def test_literal_key_is_refused_with_file_and_field(tmp_path: Path) -> None:
    p = write(tmp_path, GOOD.replace("${BRAZE_API_KEY}", "literal-key"))
    with pytest.raises(ConfigError) as e:
        load_settings(p, environ={})
    assert e.value.file == str(p)
    assert e.value.field == "braze.api_key"
    assert "literal-key" not in str(e.value)


def test_unset_env_var_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="BRAZE_API_KEY is not set"):
        load_settings(write(tmp_path, GOOD), environ={})


def test_field_path_of_a_nested_error(tmp_path: Path) -> None:
    bad = GOOD.replace("campaign_id: c1", "campaign_id: c1\n    max: 3")
    with pytest.raises(ConfigError) as e:
        load_settings(write(tmp_path, bad), environ={"BRAZE_API_KEY": "k"})
    assert e.value.field == "rules[0].max"
    assert "Extra inputs" in e.value.reason


def test_more_than_50_recipients_refused(tmp_path: Path) -> None:
    bad = GOOD + "batching: {max_recipients: 51}\n"
    with pytest.raises(ConfigError) as e:
        load_settings(write(tmp_path, bad), environ={"BRAZE_API_KEY": "k"})
    assert e.value.field == "batching.max_recipients"


def test_email_needs_prioritization(tmp_path: Path) -> None:
    bad = GOOD.replace("{external_user_id: $.user.id}", "{email: $.user.email}")
    with pytest.raises(ConfigError, match="prioritization") as e:
        load_settings(write(tmp_path, bad), environ={"BRAZE_API_KEY": "k"})
    assert e.value.field == "rules[0].recipient"


def test_secret_librdkafka_property_must_be_a_reference(tmp_path: Path) -> None:
    bad = GOOD.replace(
        'kafka: {bootstrap_servers: "127.0.0.1:9092"}',
        'kafka: {bootstrap_servers: "127.0.0.1:9092", properties: {sasl.password: hunter2}}',
    )
    with pytest.raises(ConfigError) as e:
        load_settings(write(tmp_path, bad), environ={"BRAZE_API_KEY": "k"})
    assert e.value.field == "kafka.properties.sasl.password"
    ok = bad.replace("hunter2", "'${KAFKA_PW}'")
    s = load_settings(write(tmp_path, ok), environ={"BRAZE_API_KEY": "k", "KAFKA_PW": "pw"})
    assert s.kafka.properties["sasl.password"] == "pw"


def test_reserved_librdkafka_property_refused(tmp_path: Path) -> None:
    bad = GOOD.replace(
        'kafka: {bootstrap_servers: "127.0.0.1:9092"}',
        'kafka: {bootstrap_servers: "127.0.0.1:9092", properties: {enable.auto.commit: true}}',
    )
    with pytest.raises(ConfigError, match="set by the bridge"):
        load_settings(write(tmp_path, bad), environ={"BRAZE_API_KEY": "k"})


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid YAML at line"):
        load_settings(write(tmp_path, "kafka:\n  - [unclosed\n"), environ={})


def test_example_config_is_valid() -> None:
    s = load_settings(Path("config/example.yaml"), environ={"BRAZE_API_KEY": "k"})
    assert len(s.rules) >= 3


def test_consumer_defaults_bound_prefetch_and_fetch_backoff_but_users_win(tmp_path: Path) -> None:
    from bridge.kafka.clients import consumer_config

    s = load_settings(write(tmp_path, GOOD), environ={"BRAZE_API_KEY": "k"})
    conf = consumer_config(s.kafka)
    assert conf["queued.max.messages.kbytes"] == 8192
    assert conf["fetch.queue.backoff.ms"] == 50  # librdkafka's 1 s idled the bridge on resume
    mine = GOOD.replace(
        'kafka: {bootstrap_servers: "127.0.0.1:9092"}',
        'kafka: {bootstrap_servers: "127.0.0.1:9092", properties: {fetch.queue.backoff.ms: 200}}',
    )
    s = load_settings(write(tmp_path, mine), environ={"BRAZE_API_KEY": "k"})
    assert consumer_config(s.kafka)["fetch.queue.backoff.ms"] == 200
