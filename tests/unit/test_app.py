"""The composition root: secrets scrubbed from logs, start-up errors, clients' configs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml
from confluent_kafka import KafkaException

from bridge import app
from bridge.errors import StartupError
from bridge.kafka import clients
from bridge.ops import logs
from bridge.settings import load_settings, secret_values
from tests.unit.helpers import BASE


@pytest.fixture(autouse=True)
def _isolated_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """app.setup configures the process's logging and its secret list: undo both."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    monkeypatch.setattr(logs, "_secrets", [])
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


RULE = {
    "name": "r",
    "topic": "orders",
    "action": "campaign_trigger",
    "campaign_id": "c",
    "recipient": {"external_user_id": "$.user"},
}


def _config(tmp_path, **kafka_props: str):  # type: ignore[no-untyped-def]
    cfg = {
        "kafka": {**BASE["kafka"], "properties": kafka_props},
        "braze": BASE["braze"],
        "observability": {"port": 0},
        "rules": [RULE],
    }
    p = tmp_path / "bridge.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def test_every_secret_the_config_refuses_as_a_literal_is_scrubbed(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """ssl.key.pem must be a reference (settings refuse a literal) and its value never logged."""
    monkeypatch.setenv("BRAZE_API_KEY", "braze-key-1")
    monkeypatch.setenv("PEM", "-----BEGIN PRIVATE KEY-----abc")
    monkeypatch.setenv("PW", "sasl-pw-2")
    path = _config(tmp_path, **{"ssl.key.pem": "${PEM}", "sasl.password": "${PW}"})
    settings = load_settings(path)
    assert set(secret_values(settings)) == {
        "braze-key-1",
        "-----BEGIN PRIVATE KEY-----abc",
        "sasl-pw-2",
    }
    _, _, _, _, server = app.setup(path)
    if server:
        server.stop()
    line = logs.scrub("pem=-----BEGIN PRIVATE KEY-----abc pw=sasl-pw-2 key=braze-key-1")
    assert "PRIVATE KEY" not in line and "sasl-pw-2" not in line and "braze-key-1" not in line


def test_unreachable_kafka_is_a_startup_error_not_a_config_error(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from tests.unit.helpers import settings

    def down(_k, timeout=15):  # type: ignore[no-untyped-def]
        raise KafkaException("broker down")

    monkeypatch.setattr(clients, "topic_names", down)
    with pytest.raises(StartupError, match="cannot reach Kafka"):
        app.preflight(settings([RULE]))


def test_missing_dead_letter_topic_is_a_startup_error(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from tests.unit.helpers import settings

    monkeypatch.setattr(clients, "topic_names", lambda _k, timeout=15: {"orders"})
    with pytest.raises(StartupError, match="dead-letter topic"):
        app.preflight(settings([RULE]))


def test_every_client_config_drops_consumer_only_properties_and_logs_errors() -> None:
    from tests.unit.helpers import settings

    k = settings([RULE], kafka={**BASE["kafka"], "properties": {"fetch.min.bytes": "1"}}).kafka
    for conf in (
        clients.producer_config(k),
        clients.admin_config(k),
        clients.state_producer_config(k),
    ):
        assert "fetch.min.bytes" not in conf
        assert "error_cb" in conf
    assert clients.consumer_config(k)["fetch.min.bytes"] == "1"
    assert "error_cb" in clients.probe_config(k, "g")


def test_run_exits_1_not_2_when_the_dead_letter_topic_is_missing(  # type: ignore[no-untyped-def]
    tmp_path, monkeypatch, capsys
) -> None:
    """A missing topic is the environment, not the config: exit 1 (it was 2, 'invalid config')."""
    from bridge.cli.main import main
    from bridge.signals import Signals

    monkeypatch.setenv("BRAZE_API_KEY", "test-api-key-for-exit-code")
    monkeypatch.setattr(clients, "topic_names", lambda _k, timeout=15: {"orders"})
    path = _config(tmp_path)
    import signal

    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    try:
        rc = main(["run", "--config", str(path)])
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        Signals._current = None
    assert rc == 1
    assert "dead-letter topic 'braze-bridge.dlq' does not exist" in capsys.readouterr().err
