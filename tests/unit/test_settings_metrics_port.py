"""``observability.enabled`` and ``port``: ``port: 0`` alone keeps meaning "no HTTP server"
(configs written before ``enabled`` existed behave as before); ``enabled: true`` with
``port: 0`` binds an ephemeral port that the start-up line reports, in both log formats."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from bridge import app
from bridge.errors import ConfigError
from bridge.ops import logs
from tests.support.procs import listening_port
from tests.unit.helpers import BASE, settings

RULE = {
    "name": "r",
    "topic": "orders",
    "action": "campaign_trigger",
    "campaign_id": "c",
    "recipient": {"external_user_id": "$.user"},
}


@pytest.mark.parametrize(
    ("observability", "serves", "port"),
    [
        ({}, True, 9102),
        ({"port": 9200}, True, 9200),
        ({"port": 0}, False, 0),  # as before `enabled` existed: no server
        ({"enabled": True, "port": 0}, True, 0),  # an ephemeral port
        ({"enabled": True}, True, 9102),
        ({"enabled": False}, False, 9102),
        ({"enabled": False, "port": 0}, False, 0),
    ],
)
def test_port_0_alone_disables_and_enabled_true_with_port_0_asks_for_an_ephemeral_port(
    observability: dict[str, Any], serves: bool, port: int
) -> None:
    obs = settings([RULE], observability=observability).observability
    assert obs.serves_http() is serves
    assert obs.port == port


def test_enabled_must_be_a_boolean() -> None:
    with pytest.raises(ConfigError) as e:
        settings([RULE], observability={"enabled": "sometimes", "port": 0})
    assert e.value.field == "observability.enabled"


@pytest.fixture
def isolated_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """app.setup configures the process's logging and its secret list: undo both."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    monkeypatch.setattr(logs, "_secrets", [])
    monkeypatch.setenv("BRAZE_API_KEY", "unit-test-key")
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def _config(tmp_path: Path, observability: dict[str, Any]) -> Path:
    cfg = {"kafka": BASE["kafka"], "braze": BASE["braze"], "observability": observability}
    p = tmp_path / "bridge.yaml"
    p.write_text(yaml.safe_dump({**cfg, "rules": [RULE]}))
    return p


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_setup_binds_an_ephemeral_port_and_logs_it_in_either_format(
    log_format: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    isolated_logging: None,
) -> None:
    obs = {"enabled": True, "port": 0, "host": "127.0.0.1", "log_format": log_format}
    *_, server = app.setup(_config(tmp_path, obs))
    assert server is not None
    try:
        err = capsys.readouterr().err
        port = listening_port(err)
        assert port == server.port and port != 0, err
        (line,) = [x for x in err.splitlines() if "metrics server listening" in x]
        assert "127.0.0.1" in line
        r = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    finally:
        server.stop()
    assert r.status_code == 200 and "bridge_" in r.text


def test_setup_with_port_0_alone_starts_no_server_and_logs_no_port(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], isolated_logging: None
) -> None:
    *_, server = app.setup(_config(tmp_path, {"port": 0}))
    assert server is None
    assert listening_port(capsys.readouterr().err) is None


@pytest.mark.parametrize(
    ("log", "port"),
    [
        ('{"logger":"bridge.health","msg":"metrics server listening","port":4711}\n', 4711),
        (
            "2026-01-05 10:00:00,000 INFO bridge.health metrics server listening "
            "host=127.0.0.1 port=4711\n",
            4711,
        ),
        # a line still being written is not read (its port may be cut short)
        (
            "2026-01-05 10:00:00,000 INFO bridge.health metrics server listening "
            "host=127.0.0.1 port=47",
            None,
        ),
        ('{"logger":"bridge.app","msg":"braze-bridge started","metrics_port":4711}\n', None),
    ],
)
def test_the_tests_read_the_port_from_complete_start_up_lines_only(
    log: str, port: int | None
) -> None:
    assert listening_port(log) == port
