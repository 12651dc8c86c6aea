"""``braze-bridge console`` used as a person would: in a real (headless) Chromium."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.browser.conftest import ConsoleProcess, open_console, shot, write_config
from tests.support.procs import API_KEY, REPO, Sandbox

pytestmark = pytest.mark.integration

SHIPPED = (REPO / "config" / "events" / "order-shipped.json").read_text()


@pytest.fixture
def sandbox() -> Any:
    sb = Sandbox()
    yield sb
    sb.stop()


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        env={**os.environ, "BRAZE_API_KEY": API_KEY},  # as the console process has it
    )


def paste(page: Any, topic: str, event: str) -> None:
    page.fill("#topic", topic)
    page.fill("#event", event)
    # the preview runs as one types; wait for the answer to this very text
    page.wait_for_function(
        "(want) => document.querySelector('#results').dataset.for === want",
        arg=f"{topic}\n{event}",
    )


def test_rules_view_lists_rules_with_check_warnings_beside_them(
    page: Any, tmp_path: Path, sandbox: Sandbox
) -> None:
    cfg = yaml.safe_load((REPO / "config" / "example.yaml").read_text())
    dup = dict(cfg["rules"][0], name="order-shipped-again")
    cfg["rules"].append(dup)
    cfg["rules"].append(
        dict(cfg["rules"][1], name="never", when={"$.order.total": {"gt": 10, "lt": 5}})
    )
    path = write_config(tmp_path, sandbox.url, rules=cfg["rules"])
    con = ConsoleProcess("--config", str(path), "--sandbox", sandbox.url)
    open_console(page, con.url, "rules")

    card = page.locator("article.rule[data-rule='order-shipped-again']")
    assert "orders" in card.locator("dd").nth(0).inner_text()
    assert card.locator("dd").nth(1).inner_text() == "campaign_trigger"
    assert card.locator("dd").nth(2).inner_text() == "0f8e7a2c-order-shipped"
    assert "type: order.shipped" in card.locator("pre.when").inner_text()
    # check's warnings, beside the rule they concern (and only there)
    assert "both target campaign_trigger 0f8e7a2c-order-shipped" in card.inner_text()
    never = page.locator("article.rule[data-rule='never'] li.warning").all_inner_texts()
    assert any("can never match" in w and "lower bound 10" in w for w in never)
    assert page.locator("article.rule[data-rule='cart-abandoned'] li.warning").count() == 0
    check = cli("check", "--config", str(path))
    shown = page.locator("li.warning").all_inner_texts()
    expected = [
        line.removeprefix("warning: ")
        for line in check.stderr.splitlines()  # check writes its warnings to stderr
        if line.startswith("warning: ")
    ]
    assert set(shown) == set(expected) and expected  # a warning about two rules shows twice

    # the file changes: back on the rules view, the page shows the new rules
    cfg["rules"] = [r for r in cfg["rules"] if r["name"] != "never"]
    cfg["rules"].append(dict(cfg["rules"][0], name="brand-new", campaign_id="c-new"))
    path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), "rules": cfg["rules"]}))
    page.click("#tab-try")
    page.click("#tab-rules")
    page.wait_for_selector("article.rule[data-rule='brand-new']")
    assert page.locator("article.rule[data-rule='never']").count() == 0


def test_pasted_event_shows_the_request_byte_for_byte_as_preview(
    page: Any, tmp_path: Path, sandbox: Sandbox
) -> None:
    path = write_config(tmp_path, sandbox.url)
    con = ConsoleProcess("--config", str(path), "--sandbox", sandbox.url)
    open_console(page, con.url, "try")
    paste(page, "orders", SHIPPED)

    expected = cli("preview", "--config", str(path), "--topic", "orders", stdin=SHIPPED)
    assert expected.returncode == 0, expected.stderr
    shown = page.eval_on_selector("#preview-output", "e => e.textContent")
    assert shown == expected.stdout  # byte for byte
    card = page.locator("#requests article.request")
    assert card.count() == 1
    assert card.locator("h4 code").inner_text() == "POST /campaigns/trigger/send"
    body = json.loads(card.locator("pre.body").inner_text())
    assert body == json.loads(expected.stdout)["requests"][0]["body"]
    verdict = card.locator(".verdict")
    assert verdict.get_attribute("data-valid") == "true"
    assert "200" in verdict.inner_text()
    outcome = page.locator("#rule-outcomes li[data-rule='order-shipped']")
    assert outcome.get_attribute("data-outcome") == "matched"
    other = page.locator("#rule-outcomes li[data-rule='big-order-vip']")
    assert other.get_attribute("data-outcome") == "no_match"
    assert 'type: "order.placed" — the event has "order.shipped"' in other.inner_text()
    assert sandbox.requests() == []  # a verdict, not a send
    page.locator("#preview-details summary").click()
    shot(page, "try")


def test_broken_field_names_the_missing_path_and_sandbox_rejection(
    page: Any, tmp_path: Path
) -> None:
    # a sandbox that knows only some campaigns: the verdict is Braze's error
    strict = Sandbox("--campaign-id", "3c2b1a00-cart-reminder")
    try:
        path = write_config(tmp_path, strict.url)
        con = ConsoleProcess("--config", str(path), "--sandbox", strict.url)
        open_console(page, con.url, "try")
        event = json.loads(SHIPPED)
        del event["order"]["id"]
        paste(page, "orders", json.dumps(event))
        li = page.locator("#rule-outcomes li[data-rule='order-shipped']")
        assert li.get_attribute("data-outcome") == "dead_letter"
        assert "$.order.id" in li.inner_text()
        dl = page.locator("#dead-letters article.dead-letter[data-rule='order-shipped']")
        assert "$.order.id" in dl.inner_text()
        assert page.locator("#requests article.request").count() == 0

        paste(page, "orders", SHIPPED)  # valid for the bridge, unknown to this workspace
        verdict = page.locator("#requests article.request .verdict")
        assert verdict.get_attribute("data-valid") == "false"
        assert "400" in verdict.inner_text() and "Invalid Campaign ID" in verdict.inner_text()

        paste(page, "orders", '{"type": "order.shipped", ')  # not JSON at all
        dl = page.locator("#dead-letters article.dead-letter[data-stage='decode']")
        assert dl.count() == 1
        assert strict.requests() == []
    finally:
        strict.stop()


def test_saved_golden_case_passes_braze_bridge_test_and_pins_the_rule(
    page: Any, tmp_path: Path, sandbox: Sandbox
) -> None:
    path = write_config(tmp_path, sandbox.url)
    golden = tmp_path / "golden"
    con = ConsoleProcess(
        "--config", str(path), "--sandbox", sandbox.url, "--golden-dir", str(golden)
    )
    open_console(page, con.url, "try")
    page.select_option("#sample", label="order-shipped.json (orders)")
    page.wait_for_selector("#requests article.request")
    page.fill("#key", "user-42")
    page.fill("#headers", "source=web")
    page.fill("#golden-name", "Shipped order triggers the campaign")
    page.click("#save-golden")
    page.wait_for_selector("#golden-status[data-path]")
    saved = Path(page.get_attribute("#golden-status", "data-path") or "")
    assert saved.parent == golden and saved.exists()

    run = cli("test", str(golden))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed, 0 failed" in run.stdout
    doc = yaml.safe_load(saved.read_text())
    assert doc["cases"][0]["key"] == "user-42"
    assert doc["cases"][0]["headers"] == {"source": "web"}

    # the case pins today's behaviour: a changed rule fails it with a diff
    cfg = yaml.safe_load(path.read_text())
    cfg["rules"][0]["trigger_properties"]["source"] = "changed"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    run = cli("test", str(golden))
    assert run.returncode == 1
    assert any(
        line.strip().startswith("+") and '"source": "changed"' in line
        for line in run.stdout.splitlines()
    ), run.stdout


def _send(sandbox: Sandbox, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        sandbox.url + path, json=body, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10
    )


def _trigger(campaign: str, user: str) -> dict[str, Any]:
    return {
        "campaign_id": campaign,
        "broadcast": False,
        "recipients": [{"external_user_id": user, "trigger_properties": {"n": 1}}],
    }


def test_inbox_fills_live_filters_and_masks_user_ids(
    page: Any, tmp_path: Path, sandbox: Sandbox
) -> None:
    path = write_config(tmp_path, sandbox.url, observability={"pii": "mask"})
    con = ConsoleProcess("--config", str(path), "--sandbox", sandbox.url)
    open_console(page, con.url, "inbox")
    rows = page.locator("#inbox-table tbody tr")
    assert rows.count() == 0
    assert (
        _send(sandbox, "/campaigns/trigger/send", _trigger("camp-a", "alice-1001")).status_code
        == 200
    )
    assert (
        _send(sandbox, "/campaigns/trigger/send", _trigger("camp-b", "bobby-2002")).status_code
        == 200
    )
    assert _send(sandbox, "/campaigns/trigger/send", {"campaign_id": "camp-a"}).status_code == 400
    page.wait_for_function("document.querySelectorAll('#inbox-table tbody tr').length === 3")

    assert rows.nth(0).get_attribute("data-status") == "400"  # newest first
    assert "alice-1001" not in page.content() and "al***" in page.content()
    page.fill("#filter-target", "camp-b")
    page.wait_for_function("document.querySelectorAll('#inbox-table tbody tr').length === 1")
    page.fill("#filter-target", "")
    page.select_option("#filter-status", "rejected")
    page.wait_for_function("document.querySelectorAll('#inbox-table tbody tr').length === 1")
    page.select_option("#filter-status", "")
    page.fill("#filter-recipient", "bo***")
    page.wait_for_function("document.querySelectorAll('#inbox-table tbody tr').length === 1")
    page.fill("#filter-recipient", "")
    page.wait_for_function("document.querySelectorAll('#inbox-table tbody tr').length === 3")

    # keyboard: focus the rejected request, Enter opens it
    rows.nth(0).focus()
    page.keyboard.press("Enter")
    detail = page.locator("#request-detail")
    detail.wait_for(state="visible")
    assert json.loads(detail.locator(".detail-body").inner_text()) == {"campaign_id": "camp-a"}
    assert "recipients" in detail.locator(".detail-answer").inner_text().lower()
    rate = detail.locator(".detail-rate").inner_text()  # the answer's X-RateLimit-* headers
    assert "limit: " in rate and "remaining: " in rate and "reset: " in rate, rate
    pool = page.locator(".pool[data-pool='default'] meter")
    assert int(pool.get_attribute("value") or -1) == int(pool.get_attribute("max") or 0) - 3
    assert API_KEY not in page.content()


def test_fault_toggle_makes_the_sandbox_answer_5xx_in_the_inbox(
    page: Any, tmp_path: Path, sandbox: Sandbox
) -> None:
    path = write_config(tmp_path, sandbox.url, observability={"pii": "none"})
    con = ConsoleProcess("--config", str(path), "--sandbox", sandbox.url)
    open_console(page, con.url, "inbox")
    for i in range(3):
        _send(sandbox, "/campaigns/trigger/send", _trigger("0f8e7a2c-order-shipped", f"user-{i}"))
    page.wait_for_function("document.querySelectorAll('#inbox-table tbody tr').length === 3")

    page.fill("#fault-error-rate", "100")
    page.click("#apply-faults")
    page.wait_for_selector("#faults-status[data-active=true]")
    assert sandbox.stats()["faults"] == {}
    assert httpx.get(sandbox.url + "/_sandbox/faults").json()["faults"]["error_rate"] == 1.0
    statuses = [
        _send(sandbox, "/campaigns/trigger/send", _trigger("0f8e7a2c-order-shipped", f"u-{i}"))
        for i in range(3)
    ]
    assert all(r.status_code >= 500 for r in statuses)
    page.wait_for_function("document.querySelectorAll('#inbox-table tbody tr').length === 6")
    five = page.locator("#inbox-table tbody tr[data-status^='5']")
    assert five.count() == 3
    assert "fault: error" in five.nth(0).inner_text()
    page.locator("#inbox-table tbody tr[data-status='200']").first.click()
    page.locator("#request-detail").wait_for(state="visible")
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "inbox")

    page.click("#clear-faults")
    page.wait_for_selector("#faults-status[data-active=false]")
    assert httpx.get(sandbox.url + "/_sandbox/faults").json()["faults"] == {}


def test_console_refuses_cross_origin_changes(tmp_path: Path, sandbox: Sandbox) -> None:
    path = write_config(tmp_path, sandbox.url)
    con = ConsoleProcess("--config", str(path), "--sandbox", sandbox.url)
    evil = {"Origin": "http://evil.example", "Content-Type": "application/json"}
    r = httpx.post(con.url + "api/faults", json={"error_rate": 1}, headers=evil)
    assert r.status_code == 403
    r = httpx.post(
        con.url + "api/faults",
        content=b'{"error_rate": 1}',
        headers={"Content-Type": "text/plain"},
    )
    assert r.status_code == 400
    r = httpx.get(con.url + "api/rules", headers={"Host": "attacker.example:80"})
    assert r.status_code == 421
    assert httpx.get(sandbox.url + "/_sandbox/faults").json()["faults"] == {}


def test_schedule_lifecycle_and_a_429_window_show_in_the_inbox(
    page: Any, tmp_path: Path, sandbox: Sandbox
) -> None:
    from datetime import UTC, datetime, timedelta

    path = write_config(tmp_path, sandbox.url)
    con = ConsoleProcess("--config", str(path), "--sandbox", sandbox.url)
    open_console(page, con.url, "inbox")
    at = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    later = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    created = _send(
        sandbox,
        "/campaigns/trigger/schedule/create",
        {
            "campaign_id": "c-s",
            "recipients": [{"external_user_id": "u1"}],
            "schedule": {"time": at},
        },
    )
    assert created.status_code in (200, 201), created.text
    sid = created.json()["schedule_id"]
    row = page.locator(f"#schedules tr[data-schedule='{sid}']")
    row.wait_for()
    assert "scheduled" in row.inner_text() and "create" in row.inner_text()
    upd = {"campaign_id": "c-s", "schedule_id": sid, "schedule": {"time": later}}
    assert _send(sandbox, "/campaigns/trigger/schedule/update", upd).status_code < 300
    page.wait_for_function(
        "(sid) => document.querySelector(`#schedules tr[data-schedule='${sid}']`)"
        ".textContent.includes('update')",
        arg=sid,
    )
    delete = {"campaign_id": "c-s", "schedule_id": sid}
    assert _send(sandbox, "/campaigns/trigger/schedule/delete", delete).status_code < 300
    page.wait_for_function(
        "(sid) => document.querySelector(`#schedules tr[data-schedule='${sid}']`)"
        ".textContent.includes('cancelled')",
        arg=sid,
    )

    page.fill("#fault-429", "60")
    page.click("#apply-faults")
    page.wait_for_selector("#faults-status[data-active=true]")
    assert "429 window open" in page.inner_text("#faults-status")
    r = _send(sandbox, "/campaigns/trigger/send", _trigger("c-1", "u2"))
    assert r.status_code == 429
    page.wait_for_selector("#inbox-table tbody tr[data-status='429']")
    page.click("#clear-faults")
    page.wait_for_selector("#faults-status[data-active=false]")


def test_tabs_work_from_the_keyboard(page: Any, tmp_path: Path, sandbox: Sandbox) -> None:
    path = write_config(tmp_path, sandbox.url)
    con = ConsoleProcess("--config", str(path), "--sandbox", sandbox.url)
    open_console(page, con.url, "rules")
    page.focus("#tab-rules")
    page.keyboard.press("ArrowRight")
    assert page.get_attribute("#tab-try", "aria-selected") == "true"
    assert page.is_visible("#view-try") and not page.is_visible("#view-rules")
    assert page.evaluate("document.activeElement.id") == "tab-try"
    page.keyboard.press("End")
    assert page.is_visible("#view-inbox")
    page.keyboard.press("Home")
    assert page.is_visible("#view-rules")
