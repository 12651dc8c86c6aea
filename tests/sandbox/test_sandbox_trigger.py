"""Trigger sends: auth, body parsing, recipients, targeting, properties, ids, notices."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sandbox_helpers import Sandbox, campaign, canvas, rcpt

CT = {"Content-Type": "application/json"}


def test_campaign_send_success(sandbox: Sandbox) -> None:
    r = sandbox.post("/campaigns/trigger/send", campaign(trigger_properties={"a": 1}))
    assert r.status_code == 200
    body = r.json()
    assert body["message"] == "success"
    assert re.fullmatch(r"[0-9a-f]{32}", body["dispatch_id"])
    assert set(body) == {"dispatch_id", "message"}
    for h in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
        assert h in r.headers


def test_canvas_send_success_is_201(sandbox: Sandbox) -> None:
    r = sandbox.post("/canvas/trigger/send", canvas(context={"k": "v"}))
    assert r.status_code == 201
    assert r.json()["message"] == "success"
    assert "notice" not in r.json()


def test_dispatch_ids_differ(sandbox: Sandbox) -> None:
    ids = {sandbox.post("/campaigns/trigger/send", campaign()).json()["dispatch_id"] for _ in "ab"}
    assert len(ids) == 2


def test_success_status_override(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(success_status={"/campaigns/trigger/send": 201})
    assert sb.post("/campaigns/trigger/send", campaign()).status_code == 201


@pytest.mark.parametrize(
    ("headers", "text"),
    [
        ({}, "Invalid API key: no API key"),
        ({"Authorization": "Bearer wrong-key-123"}, "Invalid API key: wron****"),
        ({"Authorization": "Basic dGVzdC1rZXk="}, "Invalid API key: expected"),
        ({"Authorization": 'Bearer "test-key"'}, "Invalid API key"),
    ],
)
def test_auth_errors(sandbox: Sandbox, headers: dict[str, str], text: str) -> None:
    with httpx.Client(base_url=sandbox.url, headers=headers) as c:
        r = c.post("/campaigns/trigger/send", json=campaign())
    assert r.status_code == 401
    assert r.json()["message"].startswith(text)
    assert "X-RateLimit-Remaining" in r.headers
    assert sandbox.stats()["accepted_total"] == 0


def test_invalid_json_and_non_object(sandbox: Sandbox) -> None:
    r = sandbox.client.post("/campaigns/trigger/send", content=b'{"campaign_id": ', headers=CT)
    assert r.status_code == 400
    assert r.json()["message"] == "Bad Request"
    assert "not valid JSON" in r.json()["errors"][0]
    r = sandbox.client.post("/campaigns/trigger/send", content=b"[1]", headers=CT)
    assert r.status_code == 400
    assert r.json()["errors"] == ["body must be a JSON object"]


def test_content_type_required(sandbox: Sandbox) -> None:
    r = sandbox.client.post("/campaigns/trigger/send", content=b"{}")
    assert r.status_code == 400
    assert "Content-Type" in r.json()["errors"][0]


def test_unknown_path_404_and_wrong_method_405(sandbox: Sandbox) -> None:
    r = sandbox.post("/campaigns/trigger/sendx", {})
    assert r.status_code == 404
    assert r.json() == {"message": "Not Found"}
    assert "X-RateLimit-Limit" in r.headers
    r = sandbox.get("/campaigns/trigger/send")
    assert r.status_code == 405
    assert r.headers["Allow"] == "POST"


def test_body_over_4mb_is_413(sandbox: Sandbox) -> None:
    big = {"campaign_id": "c", "recipients": [rcpt()], "x": "a" * (4 * 1024 * 1024)}
    r = sandbox.post("/campaigns/trigger/send", big)
    assert r.status_code == 413
    assert r.json() == {"message": "Request Entity Too Large"}
    assert sandbox.requests()[-1]["status"] == 413


def test_recipient_limit(sandbox: Sandbox) -> None:
    ok = campaign(recipients=[rcpt(f"u{i}") for i in range(50)])
    assert sandbox.post("/campaigns/trigger/send", ok).status_code == 200
    too_many = canvas(recipients=[rcpt(f"u{i}") for i in range(51)])
    r = sandbox.post("/canvas/trigger/send", too_many)
    assert r.status_code == 400
    assert r.json()["message"] == (
        "The max number of external_ids and aliases per request was exceeded"
    )


ALIAS = {"alias_name": "n", "alias_label": "l"}


@pytest.mark.parametrize(
    ("recipient", "fragment"),
    [
        ({}, "must specify one of"),
        ({"external_user_id": "u", "braze_id": "b"}, "only one identifier"),
        ({"external_user_id": "u", "user_alias": ALIAS}, "only one identifier"),
        ({"external_user_id": ""}, "non-empty string"),
        ({"external_user_id": True}, "non-empty string"),
        ({"external_user_id": 5.5}, "non-empty string"),
        ({"user_alias": {"alias_name": "n"}}, "alias_label is required"),
        ({"email": "a@b.c"}, "prioritization is required"),
        ({"email": "a@b.c", "prioritization": ["bogus"]}, "invalid value 'bogus'"),
        ({"email": "a@b.c", "prioritization": ["identified", "unidentified"]}, "only one of"),
        ({"email": "a@b.c", "prioritization": "identified"}, "non-empty array"),
        ({"external_user_id": "u", "send_to_existing_only": False}, "requires an attributes"),
        (
            {"user_alias": ALIAS, "send_to_existing_only": False, "attributes": {"a": 1}},
            "not allowed with user_alias",
        ),
        ({"external_user_id": "u", "send_to_existing_only": "no"}, "must be a boolean"),
        ({"external_user_id": "u", "attributes": []}, "attributes must be an object"),
        ({"external_user_id": "u", "trigger_properties": [1]}, "must be an object"),
        ("u1", "must be an object"),
    ],
)
def test_recipient_validation(sandbox: Sandbox, recipient: Any, fragment: str) -> None:
    r = sandbox.post("/campaigns/trigger/send", campaign(recipients=[rcpt(), recipient]))
    assert r.status_code == 400, r.text
    assert fragment in r.json()["message"]
    assert "recipients[1]" in r.json()["message"]


@pytest.mark.parametrize(
    "recipient",
    [
        {"user_alias": ALIAS},
        {"braze_id": "5f1"},
        {"email": "a@b.c", "prioritization": ["unidentified", "most_recently_updated"]},
        {"external_user_id": "new", "send_to_existing_only": False, "attributes": {"x": 1}},
    ],
)
def test_recipient_identifiers_accepted(sandbox: Sandbox, recipient: dict[str, Any]) -> None:
    assert sandbox.post("/campaigns/trigger/send", campaign(recipients=[recipient])).is_success


def test_broadcast_rules(sandbox: Sandbox) -> None:
    r = sandbox.post("/campaigns/trigger/send", campaign(broadcast=True))
    assert r.status_code == 400
    assert "cannot be combined with broadcast" in r.json()["message"]
    r = sandbox.post("/campaigns/trigger/send", {"campaign_id": "c"})
    assert r.status_code == 400
    assert r.json()["message"] == "No Recipients"
    r = sandbox.post("/canvas/trigger/send", {"canvas_id": "c", "broadcast": False})
    assert r.json()["message"] == "No Recipients"
    r = sandbox.post("/campaigns/trigger/send", {"campaign_id": "c", "broadcast": "yes"})
    assert r.json()["message"] == "broadcast must be a boolean"
    r = sandbox.post("/campaigns/trigger/send", {"campaign_id": "c", "broadcast": True})
    assert r.status_code == 200
    assert "send_id" in r.json()  # tracked broadcast send


def test_required_ids(sandbox: Sandbox) -> None:
    r = sandbox.post("/campaigns/trigger/send", {"recipients": [rcpt()]})
    assert r.json()["message"] == "campaign_id is required"
    r = sandbox.post("/canvas/trigger/send", {"canvas_id": 1, "recipients": [rcpt()]})
    assert r.json()["message"] == "canvas_id must be a non-empty string"


def test_known_ids(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(campaign_ids=frozenset({"camp-1"}), canvas_ids=frozenset({"canvas-1"}))
    assert sb.post("/campaigns/trigger/send", campaign()).status_code == 200
    r = sb.post("/campaigns/trigger/send", campaign(campaign_id="other"))
    assert r.status_code == 400
    assert r.json()["message"] == "Invalid Campaign ID"
    assert sb.post("/canvas/trigger/send", canvas()).status_code == 201
    r = sb.post("/canvas/trigger/send", canvas(canvas_id="nope"))
    assert (r.status_code, r.json()["message"]) == (400, "Invalid Canvas ID")


def test_any_id_accepted_without_known_set(sandbox: Sandbox) -> None:
    assert sandbox.post("/campaigns/trigger/send", campaign(campaign_id="whatever")).is_success


def test_paused_and_archived_canvas_notice(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(paused_canvases=frozenset({"p"}), archived_canvases=frozenset({"a"}))
    r = sb.post("/canvas/trigger/send", canvas(canvas_id="p"))
    assert r.status_code == 201
    assert r.json()["notice"] == (
        "The Canvas is paused. Resume the Canvas to ensure trigger requests will take effect."
    )
    assert r.json()["message"] == "success"
    r = sb.post("/canvas/trigger/send", canvas(canvas_id="a"))
    assert r.json()["notice"] == (
        "The Canvas is archived. Unarchive the Canvas to ensure trigger requests will take effect."
    )
    assert sb.stats()["accepted_recipients"] == 0  # nothing is sent


def test_properties_size_limit(sandbox: Sandbox) -> None:
    big = {"k": "x" * (50 * 1024)}
    r = sandbox.post("/campaigns/trigger/send", campaign(trigger_properties=big))
    assert r.status_code == 400
    assert r.json()["message"] == "trigger_properties exceeds the maximum size of 50 KB"
    r = sandbox.post("/canvas/trigger/send", canvas(recipients=[rcpt(context=big)]))
    assert r.json()["message"] == "recipients[0].context exceeds the maximum size of 50 KB"
    r = sandbox.post("/canvas/trigger/send", canvas(canvas_entry_properties=big))
    assert r.status_code == 400
    just_under = {"k": "x" * (50 * 1024 - 10)}  # {"k":"..."} = 50 KB - 2 bytes
    assert sandbox.post(
        "/campaigns/trigger/send", campaign(trigger_properties=just_under)
    ).is_success


@pytest.mark.parametrize(
    ("send_id", "fragment"),
    [("é", "ASCII"), ("x" * 65, "at most 64"), (7, "non-empty string")],
)
def test_send_id_rules(sandbox: Sandbox, send_id: Any, fragment: str) -> None:
    r = sandbox.post("/campaigns/trigger/send", campaign(send_id=send_id))
    assert r.status_code == 400
    assert fragment in r.json()["message"]


def test_send_id_64_ascii_ok(sandbox: Sandbox) -> None:
    created = sandbox.post("/sends/id/create", {"campaign_id": "camp-1", "send_id": "s" * 64})
    assert created.is_success, created.text
    assert sandbox.post("/campaigns/trigger/send", campaign(send_id="s" * 64)).is_success


def test_attachments(sandbox: Sandbox) -> None:
    att = [{"file_name": "invoice", "url": "https://example.com/x.pdf"}]
    assert sandbox.post("/campaigns/trigger/send", campaign(attachments=att)).is_success
    r = sandbox.post("/campaigns/trigger/send", campaign(attachments=[{"file_name": "x"}]))
    assert r.json()["message"] == "attachments[0].url is required"
    body = {"campaign_id": "c", "broadcast": True, "attachments": att}
    r = sandbox.post("/campaigns/trigger/send", body)
    assert r.json()["message"] == "attachments cannot be combined with broadcast: true"


GOOD_AUDIENCES = [
    {"custom_attribute": {"custom_attribute_name": "tier", "comparison": "equals", "value": "g"}},
    {
        "AND": [
            {"push_subscription_status": {"comparison": "is", "value": "opted_in"}},
            {
                "OR": [
                    {"last_used_app": {"comparison": "after", "value": "2024-01-01T00:00:00Z"}},
                    {"custom_attribute": {"custom_attribute_name": "x", "comparison": "exists"}},
                ]
            },
        ]
    },
    {"email_subscription_status": {"comparison": "is_not", "value": "unsubscribed"}},
]


@pytest.mark.parametrize("audience", GOOD_AUDIENCES)
def test_audience_accepted(sandbox: Sandbox, audience: dict[str, Any]) -> None:
    body = {"campaign_id": "c", "audience": audience, "broadcast": True}
    r = sandbox.post("/campaigns/trigger/send", body)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("audience", "fragment"),
    [
        ({}, "exactly one key"),
        ({"AND": []}, "non-empty array"),
        ({"segment": {}}, "unknown connected audience filter"),
        ({"custom_attribute": {"comparison": "equals", "value": 1}}, "custom_attribute_name"),
        (
            {"custom_attribute": {"custom_attribute_name": "a", "comparison": "like", "value": 1}},
            "not a valid comparison",
        ),
        (
            {"custom_attribute": {"custom_attribute_name": "a", "comparison": "equals"}},
            "value is required",
        ),
        (
            {"custom_attribute": {"custom_attribute_name": "a", "comparison": "after", "value": 3}},
            "ISO-8601",
        ),
        ({"push_subscription_status": {"comparison": "is", "value": "yes"}}, "must be one of"),
        ({"last_used_app": {"comparison": "is", "value": "2024-01-01"}}, "'after' or 'before'"),
    ],
)
def test_audience_rejected(sandbox: Sandbox, audience: Any, fragment: str) -> None:
    r = sandbox.post("/canvas/trigger/send", {"canvas_id": "c", "audience": audience})
    assert r.status_code == 400
    assert fragment in r.json()["message"]


def test_keep_alive_many_requests(sandbox: Sandbox) -> None:
    for i in range(200):
        assert sandbox.post(
            "/campaigns/trigger/send", campaign(recipients=[rcpt(f"u{i}")])
        ).is_success
    assert sandbox.stats()["accepted_recipients"] == 200
