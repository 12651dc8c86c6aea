"""#16 hardening of configuration: D4/D6 (API key characters, key files), D5 (YAML bombs),
D9/D12 (rest_endpoint), D15 (every config error exits 2 with file, field and reason)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge.cli import main
from bridge.errors import ConfigError
from bridge.settings import load_settings

GOOD_KEY = "a1b2c3d4-e5f6-4711-8899-aabbccddeeff"


def _config(**braze: Any) -> dict[str, Any]:
    return {
        "kafka": {"bootstrap_servers": "127.0.0.1:9092"},
        "braze": {"rest_endpoint": "http://127.0.0.1:4010", "api_key": "${BRAZE_API_KEY}", **braze},
        "rules": [
            {
                "name": "r",
                "topic": "t",
                "action": "campaign_trigger",
                "campaign_id": "c",
                "recipient": {"external_user_id": "$.id"},
            }
        ],
    }


def _write(tmp_path: Path, doc: Any, name: str = "bridge.yaml") -> Path:
    p = tmp_path / name
    p.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc), encoding="utf-8")
    return p


def _check(
    path: Path, capsys: pytest.CaptureFixture[str], key: str = GOOD_KEY
) -> tuple[int, str, str]:
    old = os.environ.get("BRAZE_API_KEY")
    os.environ["BRAZE_API_KEY"] = key
    try:
        rc = main(["check", "--config", str(path)])
    finally:
        if old is None:
            del os.environ["BRAZE_API_KEY"]
        else:
            os.environ["BRAZE_API_KEY"] = old
    out = capsys.readouterr()
    return rc, out.out, out.err


def _refused(
    path: Path,
    capsys: pytest.CaptureFixture[str],
    field: str | None,
    reason: str,
    key: str = GOOD_KEY,
) -> str:
    """check exits 2 naming file, field and reason, with no traceback; run's loader agrees."""
    rc, out, err = _check(path, capsys, key)
    text = out + err
    assert rc == 78, text  # EX_CONFIG
    assert str(path) in text
    if field:
        assert field in text
    assert reason in text
    assert "Traceback" not in text
    with pytest.raises(ConfigError) as exc:  # what `run` loads, with the real environment
        load_settings(path, environ={"BRAZE_API_KEY": key})
    assert reason in str(exc.value)
    return text


# -- D4 / D6: the API key ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("SECRET-ZW-KEY-part1\u200bpart2", "U+200B, not visible ASCII at position 20"),
        ("SECRET-\u043a\u043b\u044e\u0447", "U+043A, not visible ASCII at position 8"),
        ("SECRET-two\nlines", "a line break at position 11"),
        ("SECRET with space", "whitespace at position 7"),
    ],
)
def test_api_key_with_invisible_or_non_ascii_characters_is_refused_unechoed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str, reason: str
) -> None:
    text = _refused(_write(tmp_path, _config()), capsys, "braze.api_key", reason, key=key)
    assert "SECRET" not in text


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"SECRET-line-one\nSECRET-line-two\n", "a line break at position 16"),
        (b"\xff\xfe\x00SECRET binary \x00\x01", "is not UTF-8 text"),
        (b"root:SECRET:19000:0:99999:7:::\n" * 5000, "is larger than 64 KB"),
    ],
)
def test_key_file_that_is_not_a_key_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, reason: str
) -> None:
    (tmp_path / "key.txt").write_bytes(content)
    text = _refused(
        _write(tmp_path, _config(api_key="${file:key.txt}")), capsys, "braze.api_key", reason
    )
    assert "SECRET" not in text


def test_key_file_that_never_ends_does_not_hang(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _refused(
        _write(tmp_path, _config(api_key="${file:/dev/zero}")),
        capsys,
        "braze.api_key",
        "is not a regular file",
    )


def test_key_file_with_trailing_newline_is_fine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "key.txt").write_text(GOOD_KEY + "\n")
    rc, out, err = _check(_write(tmp_path, _config(api_key="${file:key.txt}")), capsys)
    assert rc == 0, out + err


# -- D9 / D12: rest_endpoint ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://adv:SECRET-URLPW@127.0.0.1:4010", "must not contain credentials"),
        ("https://SECRET-TOKEN@rest.iad-01.braze.com", "must not contain credentials"),
        ("http://127.0.0.1:4010?x=SECRET", "no query or fragment"),
        ("https://rest.iad-01.braze.com#SECRET", "no query or fragment"),
        ("http://127.0.0.1:99999", "the host or port is invalid"),
        ("https://rest.iad-01.braze.com/SECRET", "no path"),
        ("http://rest.iad-01.braze.com", "plain http:// sends the API key in clear"),
    ],
)
def test_rest_endpoint_is_refused_without_echo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str, reason: str
) -> None:
    text = _refused(
        _write(tmp_path, _config(rest_endpoint=url)), capsys, "braze.rest_endpoint", reason
    )
    assert "SECRET" not in text


@pytest.mark.parametrize(
    ("url", "extra"),
    [
        ("http://127.0.0.1:4010", {}),
        ("http://localhost:4010/", {}),
        ("http://[::1]:4010", {}),
        ("https://rest.iad-01.braze.com", {}),
        ("http://braze.internal:8080", {"allow_insecure_http": True}),
    ],
)
def test_rest_endpoints_that_stay_allowed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str, extra: dict[str, Any]
) -> None:
    rc, out, err = _check(_write(tmp_path, _config(rest_endpoint=url, **extra)), capsys)
    assert rc == 0, out + err


# -- D5 / D15: bombs and unreadable files ------------------------------------------------------


def _bomb(where: str) -> str:
    """A config under 2 KB whose rule expands to 10**8+ values: 9 levels of 10x aliases
    inside the rule, where validation and rule compilation walk them (the report's D5)."""
    rule = (
        "rules:\n  - name: r\n    topic: t\n    action: campaign_trigger\n"
        "    campaign_id: c\n    recipient: {external_user_id: $.id}\n"
    )
    if where == "trigger_properties":
        levels = ["      a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"] + [
            f"      a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)
        ]
        body = "    trigger_properties:\n" + "\n".join(levels) + "\n"
    else:
        levels = ["        - &a0 {x: 1}"] + [
            f"        - &a{i} {{any: [{', '.join([f'*a{i - 1}'] * 10)}]}}" for i in range(1, 9)
        ]
        body = "    when:\n      all:\n" + "\n".join(levels) + "\n"
    return _with_rules_text(rule + body)


def _with_rules_text(extra_rule_yaml: str) -> str:
    head = yaml.safe_dump({k: v for k, v in _config().items() if k != "rules"})
    return head + extra_rule_yaml


@pytest.mark.parametrize("where", ["trigger_properties", "when"])
def test_yaml_alias_bomb_is_refused_fast(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    text = _bomb(where)
    assert len(text) < 2048
    path = _write(tmp_path, text)
    t0 = time.monotonic()
    _refused(path, capsys, None, "alias bomb")
    assert time.monotonic() - t0 < 5


def test_modest_aliases_still_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = _with_rules_text(
        "rules:\n"
        "  - {name: a, topic: t, action: campaign_trigger, campaign_id: c,\n"
        "     recipient: &r {external_user_id: $.id}}\n"
        "  - {name: b, topic: t, action: campaign_trigger, campaign_id: d, recipient: *r}\n"
    )
    rc, out, err = _check(_write(tmp_path, text), capsys)
    assert rc == 0, out + err


def test_yaml_nested_5000_deep_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, "a: " + "[" * 5000 + "]" * 5000 + "\n")
    text = _refused(path, capsys, None, "YAML nested deeper than 64 levels at line 1")
    assert len(text) < 1000


def test_config_that_is_not_utf8_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bridge.yaml"
    path.write_bytes(b"kafka:\n  bootstrap_servers: \xff\xfe\n")
    _refused(path, capsys, None, "the config is not UTF-8 text (byte 28 cannot be decoded)")


@pytest.mark.parametrize(
    ("props", "field", "reason"),
    [
        ({"no.such.property": 1}, "kafka.properties.no.such.property", "unknown librdkafka"),
        ({"security.protocol": "SECRET-bogus"}, "kafka.properties.security.protocol", "invalid"),
    ],
)
def test_librdkafka_properties_are_checked_like_run_does(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    props: dict[str, Any],
    field: str,
    reason: str,
) -> None:
    cfg = _config()
    cfg["kafka"]["properties"] = props
    text = _refused(_write(tmp_path, cfg), capsys, field, reason)
    assert "SECRET" not in text


def test_hot_reload_of_a_bomb_is_a_failed_reload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """D5: writing the bomb into a running bridge's config grew RSS by ~25 MB/s and no failed
    reload was ever counted; now the reload fails at once and the running rules stay."""
    import tracemalloc
    from types import SimpleNamespace

    from bridge.app import Reloader
    from bridge.ops.metrics import Metrics

    path = _write(tmp_path, _config())
    swapped: list[object] = []
    pipeline = SimpleNamespace(swap_rules=swapped.append)
    metrics = Metrics()
    reloader = Reloader(path, pipeline, metrics)  # type: ignore[arg-type]
    path.write_text(_bomb("trigger_properties"))
    monkeypatch.setenv("BRAZE_API_KEY", GOOD_KEY)
    tracemalloc.start()
    try:
        t0 = time.monotonic()
        ok = reloader.reload()
        elapsed = time.monotonic() - t0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert ok is False
    assert swapped == []
    assert (
        metrics.registry.get_sample_value("bridge_config_reloads_total", {"result": "failed"}) == 1
    )
    assert elapsed < 5
    assert peak < 50_000_000, peak


@pytest.mark.parametrize(
    ("host", "field"), [("127.0.0.1", "observability.port"), ("192.0.2.1", "observability.host")]
)
def test_run_with_an_unusable_metrics_address_exits_2_naming_the_field(
    tmp_path: Path, host: str, field: str
) -> None:
    """D15: an OSError traceback and exit 1 (before Kafka is ever contacted)."""
    import socket
    import subprocess
    import sys

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        cfg = _config()
        cfg["observability"] = {"host": host, "port": busy.getsockname()[1]}
        path = _write(tmp_path, cfg)
        proc = subprocess.run(
            [sys.executable, "-m", "bridge", "run", "--config", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "BRAZE_API_KEY": GOOD_KEY},
        )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 78, out  # EX_CONFIG
    assert f"{path}: {field}: cannot listen on {host}:" in out
    assert "Traceback" not in out


@pytest.mark.parametrize(
    ("avsc", "reason"), [(None, "orders.avsc"), ('{"type": "nonsense"', "orders.avsc")]
)
def test_check_rejects_a_missing_or_invalid_avro_schema_like_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], avsc: str | None, reason: str
) -> None:
    """D15: check said OK, run exited 2."""
    if avsc is not None:
        (tmp_path / "orders.avsc").write_text(avsc)
    cfg = _config()
    cfg["decoding"] = {"t": {"format": "avro", "schema": "orders.avsc"}}
    rc, out, err = _check(_write(tmp_path, cfg), capsys)
    assert rc == 78, out + err  # EX_CONFIG
    assert reason in err
    assert "Traceback" not in out + err


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("sasl.oauthbearer.config", "clientId=bridge clientSecret=SECRET-oauth scope=x"),
        ("sasl.jaas.config", "org.apache.kafka...PlainLoginModule required password=SECRET-j;"),
    ],
)
def test_literal_secret_inside_a_composite_property_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, value: str
) -> None:
    """D19: a literal clientSecret=... in sasl.oauthbearer.config was accepted."""
    cfg = _config()
    cfg["kafka"]["properties"] = {name: value}
    text = _refused(_write(tmp_path, cfg), capsys, f"kafka.properties.{name}", "must be ${ENV_VAR}")
    assert "SECRET" not in text
