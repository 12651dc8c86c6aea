"""The console beside a running bridge: a real broker, ``braze-bridge run`` and the sandbox,
as in ``make demo``. The inbox fills with what the bridge delivers; the try view reads the
last records of a topic from the broker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.browser.conftest import ConsoleProcess, open_console
from tests.support.kafka import create_topics, produce, unique, wait_committed
from tests.support.procs import EPHEMERAL_METRICS, REPO, Bridge, Sandbox

pytestmark = pytest.mark.integration


def test_inbox_fills_while_the_bridge_delivers_and_records_load_from_kafka(
    page: Any, tmp_path: Path, kafka_bootstrap: str
) -> None:
    orders, carts, dlq = unique("orders"), unique("carts"), unique("dlq")
    create_topics(kafka_bootstrap, {orders: 1, carts: 1, dlq: 1})
    sandbox = Sandbox()
    cfg = yaml.safe_load((REPO / "config" / "example.yaml").read_text())
    group = unique("console-bridge")
    cfg["kafka"].update(
        {"bootstrap_servers": kafka_bootstrap, "group_id": group, "dead_letter_topic": dlq}
    )
    cfg["braze"]["rest_endpoint"] = sandbox.url
    cfg["batching"]["linger_ms"] = 50
    cfg["observability"] = {**EPHEMERAL_METRICS, "pii": "none"}
    for rule in cfg["rules"]:
        rule["topic"] = {"orders": orders, "carts": carts}[rule["topic"]]
    bridge = Bridge(tmp_path, cfg).start()
    con = ConsoleProcess("--config", str(bridge.path), "--sandbox", sandbox.url)
    open_console(page, con.url, "inbox")
    assert page.locator("#inbox-table tbody tr").count() == 0

    lines = [
        line.encode()
        for line in (REPO / "config" / "events" / "orders.jsonl").read_text().splitlines()
        if line.strip()
    ]
    produce(kafka_bootstrap, [(orders, None, v, None) for v in lines])
    assert wait_committed(kafka_bootstrap, group, [orders], timeout=90), bridge.log()[-3000:]
    # order-shipped (3 events, 2 users -> 2 requests, the same user twice is split) and
    # big-order-vip (1 event): what the sandbox accepted appears without a reload
    page.wait_for_function(
        "document.querySelectorAll('#inbox-table tbody tr[data-status^=\"2\"]').length >= 2"
    )
    sent = {r["path"] for r in sandbox.requests() if 200 <= r["status"] < 300}
    shown = {
        tr.get_attribute("data-path")
        for tr in page.locator("#inbox-table tbody tr[data-status^='2']").all()
    }
    assert shown == sent and "/campaigns/trigger/send" in shown
    page.select_option("#filter-endpoint", "/campaigns/trigger/send")
    page.fill("#filter-recipient", "user-42")
    rows = page.locator("#inbox-table tbody tr")
    expected = sum(
        1
        for r in sandbox.requests("/campaigns/trigger/send")
        if any(x.get("external_user_id") == "user-42" for x in r["body"]["recipients"])
    )
    page.wait_for_function(
        f"document.querySelectorAll('#inbox-table tbody tr').length === {expected}"
    )
    assert expected >= 1 and rows.count() == expected

    # the try view: the last records of the topic, straight from the broker
    page.click("#tab-try")
    page.fill("#topic", orders)
    page.fill("#record-count", "3")
    page.click("#load-records")
    page.wait_for_selector("#record:not([hidden])")
    assert page.locator("#record option").count() == 3
    assert page.input_value("#event") == lines[-1].decode()
    page.select_option("#record", index=0)  # the order.viewed event: no rule matches
    page.wait_for_function(
        "(want) => document.querySelector('#results').dataset.for === want",
        arg=f"{orders}\n{lines[-3].decode()}",
    )
    big = page.locator("#rule-outcomes li[data-rule='big-order-vip']")
    assert big.get_attribute("data-outcome") == "no_match"
    assert bridge.stop() == 0
