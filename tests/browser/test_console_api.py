"""The console's server and helpers without a browser (unit tier: no broker, no Chromium)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from bridge.cli.preview import cmd_preview
from bridge.console import adapter, cases, verdict
from bridge.console.api import Console, ConsoleConfig
from bridge.console.pii import mask_ids
from bridge.console.server import make_server
from bridge.golden import run_cases
from tests.support.procs import REPO

SHIPPED = (REPO / "config" / "events" / "order-shipped.json").read_text()


@pytest.fixture
def console_url(tmp_path: Path) -> Iterator[str]:
    cfg = yaml.safe_load((REPO / "config" / "example.yaml").read_text())
    cfg["observability"] = {"pii": "mask"}
    path = tmp_path / "bridge.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    console = Console(ConsoleConfig(path, tmp_path / "golden", REPO / "config" / "events", None))
    server = make_server(console, "127.0.0.1", 0)
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    t.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        t.join(5)


def post(url: str, path: str, body: Any) -> httpx.Response:
    return httpx.post(url + path, json=body, timeout=10)


def test_preview_api_output_is_what_the_preview_command_prints(
    console_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    event = tmp_path / "e.json"
    event.write_text(SHIPPED)
    assert cmd_preview(str(tmp_path / "bridge.yaml"), "orders", str(event), "k1", ["a=b"]) == 0
    printed = capsys.readouterr().out
    r = post(
        console_url,
        "api/preview",
        {"topic": "orders", "event": SHIPPED, "key": "k1", "headers": "a=b"},
    )
    assert r.status_code == 200
    assert r.json()["output"] == printed
    assert r.json()["verdicts"] == [
        {"valid": True, "status": 200, "answer": r.json()["verdicts"][0]["answer"]}
    ]


def test_preview_api_explains_every_rule(console_url: str) -> None:
    event = orjson.loads(SHIPPED)
    del event["order"]["id"]
    r = post(console_url, "api/preview", {"topic": "orders", "event": orjson.dumps(event).decode()})
    outcomes = {o["rule"]: o for o in r.json()["rules"]}
    assert outcomes["order-shipped"]["outcome"] == "dead_letter"
    assert "$.order.id" in outcomes["order-shipped"]["reason"]
    assert outcomes["big-order-vip"]["outcome"] == "no_match"
    # the failing condition named, with what the event has there
    assert outcomes["big-order-vip"]["reason"] == (
        'type: "order.placed" — the event has "order.shipped"; '
        '$.order.total: {"gte":500} — the event has 129.5'
    )
    assert outcomes["cart-abandoned"] == {
        "rule": "cart-abandoned",
        "outcome": "other_topic",
        "reason": "reads topic 'carts'",
    }
    viewed = '{"type": "order.placed", "order": {}}'
    r = post(console_url, "api/preview", {"topic": "orders", "event": viewed})
    vip = next(o for o in r.json()["rules"] if o["rule"] == "big-order-vip")
    assert vip["reason"] == '$.order.total: {"gte":500} — $.order.total is missing from the event'
    r = post(console_url, "api/preview", {"topic": "orders", "event": "{nope"})
    assert {o["outcome"] for o in r.json()["rules"] if o["rule"] != "cart-abandoned"} == {
        "dead_letter"
    }


def test_bad_header_line_and_missing_topic_are_400(console_url: str) -> None:
    r = post(console_url, "api/preview", {"topic": "orders", "event": "{}", "headers": "oops"})
    assert r.status_code == 400 and "NAME=VALUE" in r.json()["error"]
    r = post(console_url, "api/preview", {"topic": "", "event": "{}"})
    assert r.status_code == 400 and "topic" in r.json()["error"]


def test_inbox_and_faults_need_a_sandbox(console_url: str) -> None:
    r = httpx.get(console_url + "api/inbox")
    assert r.status_code == 400 and "--sandbox" in r.json()["error"]
    r = post(console_url, "api/faults", {"error_rate": 1})
    assert r.status_code == 400


def test_state_changes_need_json_and_the_same_origin(console_url: str) -> None:
    r = httpx.post(
        console_url + "api/golden",
        content=b'{"name": "x", "topic": "orders", "event": "{}"}',
        headers={"Content-Type": "text/plain"},
    )
    assert r.status_code == 400
    r = httpx.post(
        console_url + "api/golden",
        json={"name": "x", "topic": "orders", "event": "{}"},
        headers={"Origin": "http://elsewhere.example"},
    )
    assert r.status_code == 403
    r = httpx.get(console_url + "api/info", headers={"Host": "rebind.example:4020"})
    assert r.status_code == 421


def test_static_page_has_a_strict_content_security_policy(console_url: str) -> None:
    r = httpx.get(console_url)
    assert r.status_code == 200 and "<title>braze-bridge console</title>" in r.text
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert httpx.get(console_url + "static/../server.py").status_code == 404
    assert httpx.get(console_url + "static/console.js").status_code == 200


def test_samples_carry_a_topic_even_for_single_json_files(console_url: str) -> None:
    samples = {s["name"]: s for s in httpx.get(console_url + "api/samples").json()["samples"]}
    assert samples["order-shipped.json"]["topic"] == "orders"
    assert samples["cart-abandoned.json"]["topic"] == "carts"
    assert samples["carts.jsonl:1"]["topic"] == "carts"


def test_saved_cases_pass_braze_bridge_test(console_url: str, tmp_path: Path) -> None:
    for name, event in [
        ("shipped", SHIPPED),
        ("missing id", '{"type": "order.shipped", "user": {"id": "u"}, "order": {}}'),
        ("viewed", '{"type": "order.viewed"}'),
        ("garbage", "not json"),
    ]:
        r = post(console_url, "api/golden", {"name": name, "topic": "orders", "event": event})
        assert r.status_code == 200, r.text
    again = post(console_url, "api/golden", {"name": "shipped", "topic": "orders", "event": "{}"})
    assert again.json()["path"].endswith("shipped-2.yaml")  # never overwrites
    results = run_cases(tmp_path / "golden")
    assert [(r.name, r.ok) for r in results] == [
        ("garbage", True),
        ("missing id", True),
        ("shipped", True),
        ("shipped", True),
        ("viewed", True),
    ]
    doc = yaml.safe_load((tmp_path / "golden" / "missing-id.yaml").read_text())
    assert doc["cases"][0]["expect"]["dead_letters"][0]["rule"] == "order-shipped"
    assert doc["config"] == "../bridge.yaml"


def test_mask_ids_masks_identifiers_only() -> None:
    body = {
        "campaign_id": "c-1",
        "recipients": [
            {"external_user_id": "user-42", "trigger_properties": {"order_id": "o-1"}},
            {"user_alias": {"alias_name": "anon-77", "alias_label": "shop"}},
            {"email": "ada@example.com"},
        ],
        "external_user_ids": ["alice-1", "bob-22"],
    }
    masked = mask_ids(body, "mask")
    text = orjson.dumps(masked).decode()
    for raw in ("user-42", "anon-77", "ada@example.com", "alice-1", "bob-22"):
        assert raw not in text
    assert masked["campaign_id"] == "c-1"
    assert masked["recipients"][0]["trigger_properties"] == {"order_id": "o-1"}
    assert masked["recipients"][1]["user_alias"]["alias_label"] == "shop"
    assert mask_ids(body, "none") is body
    assert mask_ids(body, "hash")["recipients"][0]["external_user_id"].startswith("sha256:")


def test_verdict_uses_the_sandbox_settings_and_skips_placeholder_schedule_ids() -> None:
    body = {"campaign_id": "c-1", "broadcast": False, "recipients": [{"external_user_id": "u"}]}
    ok = verdict.verdict(verdict.options_from(None), "POST", "/campaigns/trigger/send", body)
    assert ok["valid"] is True and ok["status"] == 200
    strict = verdict.options_from({"campaign_ids": ["other"], "host": "0.0.0.0", "unknown": 1})
    bad = verdict.verdict(strict, "POST", "/campaigns/trigger/send", body)
    assert bad["valid"] is False and bad["status"] == 400
    upd = {"campaign_id": "c-1", "schedule_id": "<schedule_id of k>", "schedule": {}}
    note = verdict.verdict(strict, "POST", "/campaigns/trigger/schedule/update", upd)
    assert note["valid"] is None


def test_expectation_of_a_skipped_event() -> None:
    from bridge.preview import PreviewResult

    assert cases.expectation(PreviewResult(skipped="no rule matched")) == {"skipped": True}
    assert adapter.render(PreviewResult()) == '{\n  "requests": []\n}\n'
