"""Faults for Braze answers the sandbox could not give before issue #12 (item 10):
403 Access Denied, 202 queued, 2xx with errors[], message-variation ids, duplicate send ids."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import orjson
import pytest
from sandbox_helpers import Sandbox, campaign, message, rcpt

from bridge.sandbox.app import SandboxApp
from bridge.sandbox.cli import add_arguments, build_options, main
from bridge.sandbox.options import SandboxOptions

VARIANT = {"email": {"app_id": "a", "message_variation_id": "v-email", "body": "x"}}


def test_forbidden_window_answers_403_access_denied(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(faults={"forbidden_for_s": 30})
    r = sb.post("/campaigns/trigger/send", campaign())
    assert (r.status_code, r.json()) == (403, {"message": "Access Denied"})
    assert "X-RateLimit-Limit" in r.headers
    assert sb.get("/_sandbox/faults").json()["forbidden_until"] > time.time()
    assert sb.stats()["accepted_total"] == 0
    assert sb.stats()["faults"] == {"forbidden": 1}
    assert sb.requests()[-1]["fault"] == "forbidden"


def test_forbidden_window_ends() -> None:
    now = [1_000_000.0]
    app = SandboxApp(SandboxOptions(api_key="k", faults={"forbidden_for_s": 5}), lambda: now[0])
    headers = {"authorization": "Bearer k", "content-type": "application/json"}
    raw = orjson.dumps(campaign())
    assert app.handle("POST", "/campaigns/trigger/send", headers, raw).status == 403
    now[0] += 4.9
    assert app.handle("POST", "/campaigns/trigger/send", headers, raw).status == 403
    now[0] += 0.2
    assert app.handle("POST", "/campaigns/trigger/send", headers, raw).status == 200


def test_queued_answer_is_202_and_processed(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(faults={"queued_rate": 1.0})
    r = sb.post("/campaigns/trigger/send", campaign(recipients=[rcpt("a"), rcpt("b")]))
    assert (r.status_code, r.json()) == (202, {"message": "queued"})
    st = sb.stats()
    assert (st["accepted_total"], st["accepted_recipients"], st["faults"]) == (1, 2, {"queued": 1})
    # invalid requests are still refused, not queued; the GET listing is never queued
    assert sb.post("/campaigns/trigger/send", {"campaign_id": "c"}).status_code == 400
    r = sb.get("/messages/scheduled_broadcasts", params={"end_time": "2031-01-01"})
    assert (r.status_code, r.json()) == (200, {"scheduled_broadcasts": []})


def test_partial_errors_name_the_affected_recipient(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(faults={"partial_error_rate": 1.0, "seed": 3})
    recipients = [rcpt(f"u{i}") for i in range(5)]
    r = sb.post("/campaigns/trigger/send", campaign(recipients=recipients))
    assert r.status_code == 200
    body = r.json()
    assert body["message"] == "success" and "dispatch_id" in body
    (error,) = body["errors"]
    i = int(error.split("]")[0].removeprefix("recipients["))
    assert error == f'recipients[{i}] (external_user_id "u{i}"): sandbox fault: not delivered'
    st = sb.stats()
    assert (st["accepted_recipients"], st["faults"]) == (4, {"partial": 1})
    assert sb.requests()[-1]["fault"] == "partial"
    r = sb.post("/messages/send", message(external_user_ids=["x1"]))
    assert r.json()["errors"] == ['"x1": sandbox fault: not delivered']


def test_message_variations_per_campaign(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(faults={"message_variations": {"c1": {"v-email": "email"}, "c2": ["v2"]}})
    assert sb.post("/messages/send", message(campaign_id="c1", messages=VARIANT)).is_success
    other = {"email": {**VARIANT["email"], "message_variation_id": "v-unknown"}}
    r = sb.post("/messages/send", message(campaign_id="c1", messages=other))
    assert (r.status_code, r.json()["message"]) == (400, "Invalid Message Variant")
    push = {"apple_push": {"alert": "hi", "message_variation_id": "v-email"}}
    r = sb.post("/messages/send", message(campaign_id="c1", messages=push))
    assert (r.status_code, r.json()["message"]) == (400, "Mismatched Message Type")
    any_channel = {"sms": {"body": "x", "message_variation_id": "v2"}}
    assert sb.post("/messages/send", message(campaign_id="c2", messages=any_channel)).is_success
    # campaigns without configured variations accept any id
    assert sb.post("/messages/send", message(campaign_id="c9", messages=other)).is_success


def test_duplicate_send_id_answer(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(faults={"duplicate_send_id_status": 400})
    body = {"campaign_id": "c1", "send_id": "s1"}
    assert sb.post("/sends/id/create", body).is_success
    r = sb.post("/sends/id/create", body)
    assert r.status_code == 400
    assert r.json() == {
        "message": "send_id already exists",
        "errors": ["send_id 's1' was already created for campaign_id 'c1'"],
    }
    assert len(sb.get("/_sandbox/send_ids").json()["send_ids"]) == 1


@pytest.mark.parametrize(
    "spec",
    [
        {"forbidden_for_s": -1},
        {"queued_rate": 2},
        {"partial_error_rate": "x"},
        {"message_variations": ["v1"]},
        {"message_variations": {"c": [1]}},
        {"duplicate_send_id_status": 500},
        {"duplicate_send_id_message": ""},
    ],
)
def test_bad_new_fault_settings_are_refused(sandbox: Sandbox, spec: dict[str, object]) -> None:
    r = sandbox.post("/_sandbox/faults", spec)
    assert r.status_code == 400
    assert sandbox.get("/_sandbox/faults").json()["faults"] == {}


def test_new_faults_from_start_flag() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    opts = build_options(parser.parse_args(["--faults", '{"queued_rate": 1}']))
    assert opts.faults == {"queued_rate": 1}
    assert main(["--faults", '{"forbidden_for_s": "x"}']) == 2
