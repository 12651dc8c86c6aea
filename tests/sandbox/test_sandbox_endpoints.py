"""/messages/send, schedule lifecycles, scheduled_broadcasts, sends/id/create, live activity."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sandbox_helpers import Sandbox, message, rcpt


def iso(delta: timedelta, zone: bool = True) -> str:
    dt = datetime.now(UTC) + delta
    return dt.isoformat() if zone else dt.replace(tzinfo=None).isoformat(timespec="seconds")


SOON = {"time": iso(timedelta(hours=2))}

# ------------------------------------------------------------------ /messages/send


def test_messages_send_success(sandbox: Sandbox) -> None:
    r = sandbox.post("/messages/send", message())
    assert r.status_code == 200
    assert set(r.json()) == {"dispatch_id", "message"}


@pytest.mark.parametrize(
    ("extra", "text"),
    [
        ({"external_user_ids": [f"u{i}" for i in range(51)]}, "The max number of ids per"),
        ({"messages": None}, "No message to send"),
        ({"messages": {}}, "No message to send"),
        ({"messages": {"carrier_pigeon": {}}}, "messages.carrier_pigeon is not a supported"),
        ({"messages": {"apple_push": {"alert": "x" * 2000}}}, "Apple Push Length Exceeded"),
        ({"messages": {"android_push": {"alert": "x" * 4001}}}, "Android Push Length Exceeded"),
        ({"messages": {"apple_push": {"alert": "a", "extra": [1]}}}, "Invalid Extra Push Payload"),
        ({"campaign_id": "c"}, "Message Variant Unspecified"),
        ({"external_user_ids": None}, "No Recipients"),
        ({"broadcast": True}, "external_user_ids/user_aliases cannot be combined with broadcast"),
        ({"external_user_ids": [True]}, "external_user_ids must be an array of non-empty strings"),
        ({"user_aliases": [{"alias_name": "n"}]}, "user_aliases[0].alias_label is required"),
        ({"recipient_subscription_state": "maybe"}, "recipient_subscription_state"),
        ({"override_frequency_capping": "yes"}, "override_frequency_capping must be a boolean"),
    ],
)
def test_messages_send_validation(sandbox: Sandbox, extra: dict[str, Any], text: str) -> None:
    r = sandbox.post("/messages/send", message(**extra))
    assert r.status_code == 400, r.text
    assert r.json()["message"].startswith(text)


def test_messages_send_aliases_limit_and_targets(sandbox: Sandbox) -> None:
    aliases = [{"alias_name": f"n{i}", "alias_label": "l"} for i in range(30)]
    ids = [f"u{i}" for i in range(21)]
    r = sandbox.post("/messages/send", message(external_user_ids=ids, user_aliases=aliases))
    assert r.json()["message"] == (
        "The max number of external_ids and aliases per request was exceeded"
    )
    ok = message(external_user_ids=ids[:20], user_aliases=aliases)
    assert sandbox.post("/messages/send", ok).status_code == 200
    assert sandbox.stats()["accepted_recipients"] == 50
    assert sandbox.post(
        "/messages/send", message(external_user_ids=None, segment_id="s", broadcast=True)
    ).is_success
    variant = {"email": {"app_id": "a", "message_variation_id": "v1", "body": "x"}}
    assert sandbox.post("/messages/send", message(campaign_id="c", messages=variant)).is_success


# ------------------------------------------------------------------ schedules

SCHEDULE_KINDS = [
    ("/campaigns/trigger/schedule", {"campaign_id": "c1"}, {"recipients": [rcpt()]}),
    ("/canvas/trigger/schedule", {"canvas_id": "k1"}, {"recipients": [rcpt()]}),
    ("/messages/schedule", {}, message()),
]


@pytest.mark.parametrize(("base", "ident", "targets"), SCHEDULE_KINDS)
def test_schedule_lifecycle(
    sandbox: Sandbox, base: str, ident: dict[str, Any], targets: dict[str, Any]
) -> None:
    r = sandbox.post(f"{base}/create", {**ident, **targets, "schedule": SOON})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"dispatch_id", "schedule_id", "message"}
    sid = body["schedule_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", sid)
    listed = sandbox.get("/_sandbox/schedules").json()["schedules"]
    assert [s["schedule_id"] for s in listed] == [sid]
    assert listed[0]["recipients"] == 1

    later = {"time": iso(timedelta(days=1), zone=False), "in_local_time": True}
    r = sandbox.post(f"{base}/update", {**ident, "schedule_id": sid, "schedule": later})
    assert (r.status_code, r.json()) == (200, {"message": "success"})
    assert sandbox.get("/_sandbox/schedules").json()["schedules"][0]["schedule_type"] == (
        "local_time_zones"
    )
    r = sandbox.post(f"{base}/delete", {**ident, "schedule_id": sid})
    assert (r.status_code, r.json()) == (200, {"message": "success"})
    for op in ("update", "delete"):
        r = sandbox.post(f"{base}/{op}", {**ident, "schedule_id": sid, "schedule": SOON})
        assert r.status_code == 400
        assert r.json()["message"] == "Invalid schedule_id"
        assert "deleted" in r.json()["errors"][0]
    r = sandbox.post(f"{base}/delete", {**ident, "schedule_id": "never"})
    assert "does not exist" in r.json()["errors"][0]


def test_schedule_ids_are_scoped(sandbox: Sandbox) -> None:
    sid = sandbox.post(
        "/campaigns/trigger/schedule/create",
        {"campaign_id": "c1", "broadcast": True, "schedule": SOON},
    ).json()["schedule_id"]
    r = sandbox.post(
        "/campaigns/trigger/schedule/delete", {"campaign_id": "c2", "schedule_id": sid}
    )
    assert "does not belong to this campaign_id" in r.json()["errors"][0]
    r = sandbox.post("/messages/schedule/delete", {"schedule_id": sid})
    assert "belongs to a campaign schedule" in r.json()["errors"][0]


@pytest.mark.parametrize(
    ("schedule", "text"),
    [
        (None, "schedule is required"),
        ("tomorrow", "schedule must be an object"),
        ({}, "schedule.time is required"),
        ({"time": "next tuesday"}, "Bad Request"),
        ({"time": iso(timedelta(days=1)), "in_local_time": True}, "must not include a time zone"),
        ({"time": iso(timedelta(days=1)), "at_optimal_time": True}, "must not include a time zone"),
        ({"time": iso(-timedelta(days=2), zone=False), "in_local_time": True}, "Bad Request"),
        (
            {"time": iso(timedelta(days=1), False), "in_local_time": True, "at_optimal_time": True},
            "cannot both be true",
        ),
        ({"time": iso(timedelta(days=1)), "in_local_time": "yes"}, "must be a boolean"),
    ],
)
def test_schedule_object_validation(
    make_sandbox: Callable[..., Sandbox], schedule: Any, text: str
) -> None:
    # the strict readings of the zone designator / both flags are options (lenient default)
    sandbox = make_sandbox(allow_both_schedule_flags=False, allow_local_time_offset=False)
    body = {"canvas_id": "k", "recipients": [rcpt()], "schedule": schedule}
    r = sandbox.post("/canvas/trigger/schedule/create", body)
    assert r.status_code == 400
    assert text in r.json()["message"]


def test_in_local_time_passed_only_in_some_zones_is_ok(sandbox: Sandbox) -> None:
    sched = {"time": iso(-timedelta(hours=3), zone=False), "in_local_time": True}
    body = {"canvas_id": "k", "broadcast": True, "schedule": sched}
    assert sandbox.post("/canvas/trigger/schedule/create", body).status_code == 200


def test_schedule_update_requires_fields(sandbox: Sandbox) -> None:
    sid = sandbox.post("/messages/schedule/create", message(schedule=SOON)).json()["schedule_id"]
    r = sandbox.post("/messages/schedule/update", {"schedule_id": sid})
    assert r.json()["message"] == "schedule or messages is required"
    r = sandbox.post("/messages/schedule/update", {"schedule_id": sid, "messages": {"sms": {}}})
    assert r.status_code == 200
    r = sandbox.post("/campaigns/trigger/schedule/update", {"campaign_id": "c"})
    assert r.json()["message"] == "schedule_id is required"
    r = sandbox.post("/messages/schedule/create", message(recipients=[rcpt()], schedule=SOON))
    assert r.json()["message"].startswith("recipients is not a parameter")
    r = sandbox.post("/messages/schedule/create", message(messages={"whats_app": {}}))
    assert "not a supported" in r.json()["message"]


def test_scheduled_broadcasts(make_sandbox: Callable[..., Sandbox]) -> None:
    dashboard = [
        {"name": "Weekly", "id": "b1", "type": "Campaign", "tags": ["news"],
         "next_send_time": iso(timedelta(days=2)), "schedule_type": "America/New_York"},
        {"name": "Far", "id": "b2", "next_send_time": iso(timedelta(days=40))},
    ]  # fmt: skip
    sb = make_sandbox(scheduled_broadcasts=dashboard, list_api_schedules=True)
    sid = sb.post(
        "/canvas/trigger/schedule/create",
        {"canvas_id": "k1", "broadcast": True, "schedule": {"time": iso(timedelta(days=1))}},
    ).json()["schedule_id"]
    r = sb.get("/messages/scheduled_broadcasts", params={"end_time": iso(timedelta(days=7))})
    assert r.status_code == 200
    assert "X-RateLimit-Remaining" in r.headers
    items = r.json()["scheduled_broadcasts"]
    assert [i["id"] for i in items] == ["k1", "b1"]
    assert items[0]["type"] == "Canvas"
    assert items[0]["name"] == f"API schedule {sid}"
    assert set(items[0]) == {"name", "id", "type", "tags", "next_send_time", "schedule_type"}
    assert items[1]["tags"] == ["news"]
    r = sb.get("/messages/scheduled_broadcasts", params={"end_time": iso(timedelta(hours=1))})
    assert r.json() == {"scheduled_broadcasts": []}
    r = sb.get("/messages/scheduled_broadcasts")
    assert (r.status_code, r.json()["message"]) == (400, "end_time is required")
    r = sb.get("/messages/scheduled_broadcasts", params={"end_time": "soon"})
    assert r.json()["message"] == "Bad Request"
    sb.post("/_sandbox/config", {"list_api_schedules": False})
    r = sb.get("/messages/scheduled_broadcasts", params={"end_time": iso(timedelta(days=7))})
    assert [i["id"] for i in r.json()["scheduled_broadcasts"]] == ["b1"]


# ------------------------------------------------------------------ /sends/id/create


def test_sends_id_quota(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(sends_id_daily_limit=2)
    r = sb.post("/sends/id/create", {"campaign_id": "c", "send_id": "s1"})
    assert (r.status_code, r.json()) == (200, {"message": "success", "send_id": "s1"})
    assert r.headers["X-RateLimit-Limit"] == "2"
    assert r.headers["X-RateLimit-Remaining"] == "1"
    assert int(r.headers["X-RateLimit-Reset"]) % 86400 == 0
    generated = sb.post("/sends/id/create", {"campaign_id": "c"}).json()["send_id"]
    assert re.fullmatch(r"[0-9a-f]{16}", generated)
    r = sb.post("/sends/id/create", {"campaign_id": "c", "send_id": "s2"})
    assert (r.status_code, r.json()) == (429, {"message": "Rate limit exceeded"})
    # re-creating an existing combination is idempotent and free
    r = sb.post("/sends/id/create", {"campaign_id": "c", "send_id": "s1"})
    assert (r.status_code, r.json()["send_id"]) == (200, "s1")
    # the same send_id for another campaign is a new combination
    assert sb.post("/sends/id/create", {"campaign_id": "d", "send_id": "s1"}).status_code == 429
    assert len(sb.get("/_sandbox/send_ids").json()["send_ids"]) == 2
    r = sb.post("/sends/id/create", {"send_id": "s1"})
    assert r.json()["message"] == "campaign_id is required"
    r = sb.post("/sends/id/create", {"campaign_id": "c", "send_id": "ü"})
    assert "ASCII" in r.json()["message"]


# ------------------------------------------------------------------ live activity

LIVE = {"app_id": "app", "activity_id": "order-1", "content_state": {"eta": 5}}


def test_live_activity_success(sandbox: Sandbox) -> None:
    body = {**LIVE, "end_activity": True, "dismissal_date": iso(timedelta(hours=1)),
            "stale_date": "2030-01-01T00:00:00Z", "notification": {"alert": "x"}}  # fmt: skip
    r = sandbox.post("/messages/live_activity/update", body)
    assert (r.status_code, r.json()) == (201, {"message": "success"})
    assert "X-RateLimit-Remaining" in r.headers


@pytest.mark.parametrize(
    ("change", "text"),
    [
        ({"app_id": None}, "app_id is required"),
        ({"activity_id": ""}, "activity_id must be a non-empty string"),
        ({"content_state": None}, "content_state is required"),
        ({"content_state": "eta=5"}, "content_state must be an object"),
        ({"end_activity": 1}, "end_activity must be a boolean"),
        ({"dismissal_date": "later"}, "dismissal_date must be an ISO-8601 datetime"),
        ({"stale_date": 5}, "stale_date must be an ISO-8601 datetime"),
        ({"notification": "x"}, "notification must be an apple_push object"),
    ],
)
def test_live_activity_errors(sandbox: Sandbox, change: dict[str, Any], text: str) -> None:
    body = {k: v for k, v in {**LIVE, **change}.items() if v is not None}
    r = sandbox.post("/messages/live_activity/update", body)
    assert r.status_code == 400
    assert r.json() == {"error": text}


def test_live_activity_bad_json(sandbox: Sandbox) -> None:
    r = sandbox.client.post(
        "/messages/live_activity/update",
        content=b"{nope",
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400
    assert r.json() == {
        "error": "\nProblem:\n  message body does not match declared format\nResolution:\n  "
        "when specifying application/json as content-type, you must pass valid "
        "application/json in the request's 'body' "
    }
