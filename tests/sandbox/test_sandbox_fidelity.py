"""Braze fidelity of the sandbox (issue #12 items 8, 9 and the fields the bridge will send).

Strict where Braze's docs are strict, lenient where Braze's own examples are, and the strict
or old readings available as options. Every test here fails on the sandbox before issue #12.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sandbox_helpers import Sandbox, campaign, canvas, message, rate_headers, rcpt

AUD = {"email_subscription_status": {"comparison": "is", "value": "opted_in"}}


def wall(delta: timedelta) -> str:
    """A wall-clock time (no zone) `delta` from now, as local-time schedules use."""
    return (datetime.now(UTC) + delta).replace(tzinfo=None).isoformat(timespec="seconds")


def iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat(timespec="seconds")


# ------------------------------------------------------------------ item 8: strict


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/campaigns/trigger/send", {"campaign_id": "c1", "audience": AUD}),
        ("/campaigns/trigger/send", {"campaign_id": "c1", "audience": AUD, "broadcast": False}),
        ("/canvas/trigger/send", {"canvas_id": "k1", "audience": AUD}),
        (
            "/canvas/trigger/schedule/create",
            {"canvas_id": "k1", "audience": AUD, "schedule": {"time": iso(timedelta(days=1))}},
        ),
        ("/messages/send", message(external_user_ids=None, segment_id="s1")),
        ("/messages/send", message(external_user_ids=None, audience=AUD)),
    ],
)
def test_audience_or_segment_without_broadcast_true_is_400(
    sandbox: Sandbox, path: str, body: dict[str, Any]
) -> None:
    r = sandbox.post(path, body)
    assert r.status_code == 400, r.text
    assert r.json()["message"] == "No Recipients"
    assert "needs broadcast: true" in r.json()["errors"][0]
    assert sandbox.post(path, {**body, "broadcast": True}).is_success


def test_lenient_targeting_is_an_option(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(require_broadcast_flag=False)
    assert sb.post("/campaigns/trigger/send", {"campaign_id": "c1", "audience": AUD}).is_success
    assert sb.post("/messages/send", message(external_user_ids=None, segment_id="s")).is_success


def test_segment_id_is_only_a_messages_parameter(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(broadcast_limit=5)
    r = sb.post("/campaigns/trigger/send", {"campaign_id": "c1", "segment_id": "s1"})
    assert (r.status_code, r.json()["message"]) == (400, "No Recipients")
    # with named users it is ignored: a specific-user send in the default pool
    r = sb.post("/campaigns/trigger/send", campaign(segment_id="s1"))
    assert r.status_code == 200
    assert rate_headers(r)[0] == 250_000


def test_requests_naming_users_use_the_default_pool(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(broadcast_limit=1)
    # recipients + audience filter (Braze: "will only send to users in the audience")
    r = sb.post("/campaigns/trigger/send", campaign(audience=AUD))
    assert (r.status_code, rate_headers(r)[0]) == (200, 250_000)
    r = sb.post("/messages/send", message(segment_id="s1"))
    assert (r.status_code, rate_headers(r)[0]) == (200, 250_000)
    assert sb.stats()["pools"]["broadcast"]["used"] == 0


def test_send_id_must_exist_for_the_campaign(sandbox: Sandbox) -> None:
    r = sandbox.post("/campaigns/trigger/send", campaign(send_id="never-made"))
    assert (r.status_code, r.json()["message"]) == (400, "Invalid send_id")
    assert "create it with POST /sends/id/create first" in r.json()["errors"][0]
    assert sandbox.post("/sends/id/create", {"campaign_id": "camp-1", "send_id": "s-1"}).is_success
    assert sandbox.post("/campaigns/trigger/send", campaign(send_id="s-1")).is_success
    r = sandbox.post("/campaigns/trigger/send", campaign(campaign_id="other", send_id="s-1"))
    assert r.status_code == 400
    assert "created for campaign_id 'camp-1'" in r.json()["errors"][0]
    # /messages/send: a send_id without a campaign_id cannot belong to one
    r = sandbox.post("/messages/send", message(send_id="s-1"))
    assert (r.status_code, r.json()["message"]) == (400, "Invalid send_id")
    sched = {"time": iso(timedelta(days=1))}
    body = campaign(send_id="nope", schedule=sched)
    assert sandbox.post("/campaigns/trigger/schedule/create", body).status_code == 400


def test_lenient_send_ids_is_an_option(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(strict_send_ids=False)
    assert sb.post("/campaigns/trigger/send", campaign(send_id="never-made")).is_success


def test_messages_broadcast_with_campaign_returns_send_id(sandbox: Sandbox) -> None:
    variant = {"email": {"app_id": "a", "message_variation_id": "v1", "body": "x"}}
    body = message(external_user_ids=None, segment_id="s", broadcast=True, campaign_id="c")
    r = sandbox.post("/messages/send", {**body, "messages": variant})
    assert r.status_code == 200, r.text
    assert len(r.json()["send_id"]) == 16
    assert "send_id" not in sandbox.post("/messages/send", message()).json()


def test_scheduled_broadcasts_lists_dashboard_schedules_only_by_default(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    dash = [{"id": "dash-1", "next_send_time": iso(timedelta(days=2))}]
    sb = make_sandbox(scheduled_broadcasts=dash)
    body = {"canvas_id": "k1", "broadcast": True, "schedule": {"time": iso(timedelta(days=1))}}
    assert sb.post("/canvas/trigger/schedule/create", body).is_success
    params = {"end_time": iso(timedelta(days=7))}
    ids = [i["id"] for i in sb.get("/messages/scheduled_broadcasts", params=params).json()[
        "scheduled_broadcasts"
    ]]  # fmt: skip
    assert ids == ["dash-1"]
    sb.post("/_sandbox/config", {"list_api_schedules": True})
    r = sb.get("/messages/scheduled_broadcasts", params=params)
    assert [i["id"] for i in r.json()["scheduled_broadcasts"]] == ["k1", "dash-1"]


def test_scheduled_broadcasts_end_time_is_midnight_utc(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    day = (datetime.now(UTC) + timedelta(days=3)).date()
    at_nine = datetime(day.year, day.month, day.day, 9, tzinfo=UTC).isoformat()
    sb = make_sandbox(scheduled_broadcasts=[{"id": "b", "next_send_time": at_nine}])
    same_day_evening = datetime(day.year, day.month, day.day, 18, tzinfo=UTC).isoformat()
    r = sb.get("/messages/scheduled_broadcasts", params={"end_time": same_day_evening})
    assert r.json() == {"scheduled_broadcasts": []}  # 18:00 is read as 00:00 of that day
    next_day = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1, hours=1)
    r = sb.get("/messages/scheduled_broadcasts", params={"end_time": next_day.isoformat()})
    assert [i["id"] for i in r.json()["scheduled_broadcasts"]] == ["b"]


@pytest.mark.parametrize(
    ("path", "ids"),
    [
        ("/campaigns/trigger/schedule", {"campaign_id": "c1", "recipients": [rcpt()]}),
        ("/canvas/trigger/schedule", {"canvas_id": "k1", "recipients": [rcpt()]}),
    ],
)
def test_update_of_started_local_time_schedule_is_accepted_not_applied(
    sandbox: Sandbox, path: str, ids: dict[str, Any]
) -> None:
    # 2 h ahead of UTC: already reached in UTC+14 .. UTC+3, not yet in all zones
    started = {"time": wall(timedelta(hours=2)), "in_local_time": True}
    sid = sandbox.post(f"{path}/create", {**ids, "schedule": started}).json()["schedule_id"]
    new = {"time": wall(timedelta(days=5)), "in_local_time": True}
    key = {k: v for k, v in ids.items() if k != "recipients"}
    r = sandbox.post(f"{path}/update", {**key, "schedule_id": sid, "schedule": new})
    assert (r.status_code, r.json()) == (200, {"message": "success"})
    (entry,) = sandbox.get("/_sandbox/schedules").json()["schedules"]
    assert entry["schedule"]["time"] == started["time"]
    assert entry["ignored_updates_total"] == 1
    assert entry["ignored_updates"][0]["schedule"] == new
    assert "does not apply" in entry["ignored_updates"][0]["reason"]
    # a local-time schedule that has not started anywhere is updated
    later = {"time": wall(timedelta(days=2)), "in_local_time": True}
    sid2 = sandbox.post(f"{path}/create", {**ids, "schedule": later}).json()["schedule_id"]
    sandbox.post(f"{path}/update", {**key, "schedule_id": sid2, "schedule": new})
    by_id = {e["schedule_id"]: e for e in sandbox.get("/_sandbox/schedules").json()["schedules"]}
    assert by_id[sid2]["schedule"]["time"] == new["time"]
    assert by_id[sid2]["ignored_updates_total"] == 0


# ------------------------------------------------------------------ item 9: lenient


def test_prioritization_on_non_email_recipient_is_ignored(sandbox: Sandbox) -> None:
    body = campaign(recipients=[rcpt("u1", prioritization=["identified"])])
    assert sandbox.post("/campaigns/trigger/send", body).is_success


def test_integer_external_user_id_is_accepted(sandbox: Sandbox) -> None:
    # edx-braze-client's create_recipients builds these
    r = sandbox.post("/campaigns/trigger/send", campaign(recipients=[{"external_user_id": 42}]))
    assert r.status_code == 200, r.text
    assert sandbox.post("/messages/send", message(external_user_ids=[42, "u2"])).is_success
    assert sandbox.stats()["accepted_recipients"] == 3


def test_zone_designator_on_local_time_is_ignored(sandbox: Sandbox) -> None:
    # Braze's own update examples: "time": "2017-05-24T21:30:00Z", "in_local_time": true
    sched = {"time": wall(timedelta(days=1)) + "Z", "in_local_time": True}
    r = sandbox.post("/canvas/trigger/schedule/create", canvas(schedule=sched))
    assert r.status_code == 200, r.text
    (entry,) = sandbox.get("/_sandbox/schedules").json()["schedules"]
    assert entry["next_send_time"] == sched["time"][:-1]  # a wall-clock time, no zone


def test_both_schedule_flags_accepted(sandbox: Sandbox) -> None:
    # Braze's /messages/schedule/create example sets both
    sched = {"time": wall(timedelta(days=1)), "in_local_time": True, "at_optimal_time": True}
    assert sandbox.post("/messages/schedule/create", message(schedule=sched)).is_success


# ------------------------------------------------------------------ what the bridge will send


def test_segment_id_on_messages_send_and_schedule(sandbox: Sandbox) -> None:
    body = message(external_user_ids=None, segment_id="seg-1", broadcast=True)
    assert sandbox.post("/messages/send", body).is_success
    sched = {"time": iso(timedelta(days=1))}
    r = sandbox.post("/messages/schedule/create", {**body, "schedule": sched})
    assert r.status_code == 200, r.text
    bad = sandbox.post("/messages/send", {**body, "segment_id": 7})
    assert bad.json()["message"] == "segment_id must be a non-empty string"


def test_attachments_on_campaign_trigger(sandbox: Sandbox) -> None:
    att = [{"file_name": "invoice", "url": "https://example.com/i.pdf"}]
    assert sandbox.post("/campaigns/trigger/send", campaign(attachments=att)).is_success
    r = sandbox.post("/campaigns/trigger/send", campaign(attachments=[{"url": "u"}]))
    assert r.json()["message"] == "attachments[0].file_name is required"


def test_recipients_with_audience_filter(sandbox: Sandbox) -> None:
    r = sandbox.post("/campaigns/trigger/send", campaign(audience=AUD))
    assert r.status_code == 200
    bad = sandbox.post("/campaigns/trigger/send", campaign(audience={"nope": {}}))
    assert bad.status_code == 400


def test_messages_schedule_update_with_messages_only(sandbox: Sandbox) -> None:
    sched = {"time": iso(timedelta(days=1))}
    sid = sandbox.post("/messages/schedule/create", message(schedule=sched)).json()["schedule_id"]
    new = {"email": {"app_id": "a", "subject": "new", "body": "y"}}
    r = sandbox.post("/messages/schedule/update", {"schedule_id": sid, "messages": new})
    assert (r.status_code, r.json()) == (200, {"message": "success"})
    r = sandbox.post("/messages/schedule/update", {"schedule_id": sid, "messages": {"fax": {}}})
    assert r.status_code == 400


LIVE_START = {
    "app_id": "app",
    "activity_id": "game-1",
    "activity_attributes_type": "FootballActivity",
    "activity_attributes": {"team1Name": "Chiefs"},
    "content_state": {"score": 0},
    "notification": {"alert": {"title": "t", "body": "b"}},
    "dismissal_date": "2030-01-22T00:00:00+0000",
}


@pytest.mark.parametrize(
    "target",
    [{"external_user_ids": ["u1", "u2"]}, {"segment_id": "s"}, {"custom_audience": AUD}],
)
def test_live_activity_start(make_sandbox: Callable[..., Sandbox], target: dict[str, Any]) -> None:
    sb = make_sandbox(hourly_limit=10)
    r = sb.post("/messages/live_activity/start", {**LIVE_START, **target})
    assert (r.status_code, r.json()) == (201, {"message": "success"})
    assert rate_headers(r)[:2] == (10, 9)  # the default pool, like live_activity/update
    r = sb.post("/messages/live_activity/update", {"app_id": "a", "activity_id": "x",
                                                   "content_state": {}})  # fmt: skip
    assert rate_headers(r)[:2] == (10, 8)


@pytest.mark.parametrize(
    ("change", "text"),
    [
        ({"activity_attributes_type": None}, "activity_attributes_type is required"),
        ({"activity_attributes": "x"}, "activity_attributes must be an object"),
        ({"notification": None}, "notification is required"),
        ({"stale_date": "soon"}, "stale_date must be an ISO-8601 datetime"),
        ({"external_user_ids": None}, "No Recipients"),
        ({"external_user_ids": [f"u{i}" for i in range(51)]}, "The max number of ids"),
        ({"custom_audience": {"bad": 1}, "external_user_ids": None}, "custom_audience"),
    ],
)
def test_live_activity_start_validation(
    sandbox: Sandbox, change: dict[str, Any], text: str
) -> None:
    body = {**LIVE_START, "external_user_ids": ["u1"], **change}
    body = {k: v for k, v in body.items() if v is not None}
    r = sandbox.post("/messages/live_activity/start", body)
    assert r.status_code == 400
    assert text in r.json()["error"]


def test_sends_id_create_without_name(sandbox: Sandbox) -> None:
    r = sandbox.post("/sends/id/create", {"campaign_id": "c1"})
    assert r.status_code == 200
    send_id = r.json()["send_id"]
    assert len(send_id) == 16
    body = campaign(campaign_id="c1", send_id=send_id)
    assert sandbox.post("/campaigns/trigger/send", body).is_success


def test_properties_limit_is_configurable(make_sandbox: Callable[..., Sandbox]) -> None:
    # 50 KB read as 50,000 bytes (the decimal reading of Braze's "50 KB")
    sb = make_sandbox(max_properties_bytes=50_000)
    props = {"blob": "x" * 50_100}
    r = sb.post("/campaigns/trigger/send", campaign(trigger_properties=props))
    assert r.status_code == 400
    assert r.json()["message"] == "trigger_properties exceeds the maximum size of 50 KB"
    assert r.json()["errors"] == [
        "trigger_properties is 50111 bytes serialized; the limit is 50000"
    ]
    assert (
        make_sandbox()
        .post("/campaigns/trigger/send", campaign(trigger_properties=props))
        .is_success
    )
