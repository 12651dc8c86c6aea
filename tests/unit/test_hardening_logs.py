"""#16 D4/D10/D19: secrets never reach a log line, not even escaped; pii: mask covers e-mails
inside messages and reasons; every resolved secret reference is scrubbed."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge import secrets
from bridge.ops import logs


@pytest.fixture(autouse=True)
def _own_secrets() -> Iterator[None]:
    """Secrets registered here must not scrub other tests' log lines."""
    saved = list(logs._secrets)
    yield
    logs._secrets[:] = saved


def _line(pii: str = "mask", msg: str = "x", args: tuple[object, ...] = (), **extra: object) -> str:
    rec = logging.makeLogRecord(
        {"msg": msg, "args": args, "levelname": "INFO", "name": "t", **extra}
    )
    return logs.JsonFormatter(pii).format(rec)


def test_secret_with_invisible_character_is_scrubbed_from_an_exception_repr() -> None:
    """D4: asyncio's error line carried the request head's repr, which escapes U+200B."""
    key = "SECRET-ZW-KEY-part1\u200bpart2-adv2b"
    logs.register_secret(key)
    head = f"POST /campaigns/trigger/send HTTP/1.1\r\nAuthorization: Bearer {key}\r\n"
    exc = UnicodeEncodeError("latin-1", head, 60, 61, "ordinal not in range(256)")
    for line in (
        _line(msg="Task exception was never retrieved: %r", args=(exc,)),
        _line(error=repr(head)),
        logs.TextFormatter("mask").format(logging.makeLogRecord({"msg": repr(exc)})),
    ):
        assert "part1" not in line and "part2" not in line, line


@given(st.text(min_size=6, max_size=30).filter(lambda s: s.strip() == s and len(set(s)) > 3))
def test_any_secret_is_scrubbed_in_literal_repr_json_and_url_forms(secret: str) -> None:
    from urllib.parse import quote, quote_plus

    logs.register_secret(secret)
    for shown in (secret, repr(secret), ascii(secret), quote(secret, safe=""), quote_plus(secret)):
        out = _line(msg="value: %s", args=(shown,), extra_field=shown)
        assert secret not in out
        assert secret not in orjson.loads(out)["msg"]


def test_emails_inside_messages_and_reasons_are_masked() -> None:
    """D10: the dead-lettered line's reason quoted the converted value."""
    reason = (
        "field $.user.signup: cannot convert: Invalid isoformat string: "
        "'alice.50@victim-example.org'"
    )
    out = orjson.loads(_line(msg="dead-lettered %s", args=(reason,), reason=reason))
    assert "alice.50@" not in out["msg"] and "alice.50@" not in out["reason"]
    assert "a***@victim-example.org" in out["reason"]
    hashed = orjson.loads(_line("hash", reason=reason))
    assert "alice" not in hashed["reason"] and "sha256:" in hashed["reason"]
    assert orjson.loads(_line("none", reason=reason))["reason"] == reason


def test_every_resolved_secret_reference_is_scrubbed(tmp_path: Path) -> None:
    """D19: only properties named like passwords were scrubbed; tokens and keys are refs too."""
    (tmp_path / "token").write_text("SECRET-oauth-token-f00d\n")
    secrets.resolve("${file:token}", base_dir=tmp_path)
    secrets.resolve("${KEY_PEM}", environ={"KEY_PEM": "SECRET-pem-body-b33f"}, base_dir=tmp_path)
    out = _line(msg="kafka said: sasl token SECRET-oauth-token-f00d key SECRET-pem-body-b33f")
    assert "SECRET" not in out


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_librdkafka_logger_lines_go_through_the_formatter(
    fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.setup("INFO", fmt, "mask")
    try:
        logs.librdkafka_logger().warning(
            "%s [%s] %s", "FAIL", "rdkafka#consumer-1", "bob@example.org: connection refused"
        )
        err = capsys.readouterr().err.strip()
        assert "bob@" not in err and "b***@example.org" in err
        if fmt == "json":
            assert orjson.loads(err)["logger"] == "bridge.librdkafka"
    finally:
        logging.getLogger().handlers.clear()
