"""Issue 12, rule side: rules the validator accepted but the bridge could not run, local-time
schedule bounds, and the new expressions (segment_id, attachments, recipients + audience,
messages-only schedule updates, identifier per event, live_activity_start)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge.cli import main
from bridge.errors import ConfigError, RuleError
from bridge.ruleset import compile_rules
from tests.unit.helpers import BASE, event, settings


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRAZE_API_KEY", "k")


def _write(tmp_path: Path, rules: list[dict[str, Any]]) -> Path:
    p = tmp_path / "bridge.yaml"
    p.write_text(yaml.safe_dump({**BASE, "rules": rules}, sort_keys=False))
    return p


def _check(tmp_path: Path, rules: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]) -> str:
    path = _write(tmp_path, rules)
    assert main(["check", "--config", str(path)]) == 78  # EX_CONFIG
    err = capsys.readouterr().err
    assert str(path) in err
    return err


def _build(rule: dict[str, Any], value: Any) -> tuple[Any, Any, Any]:
    (compiled,) = compile_rules(settings([rule])).rules
    return compiled.build_checked(event(value))


# ------------------------------------------------------------------ item 3


WHOLE_SEGMENT = [
    {
        "name": "blast",
        "topic": "orders",
        "action": "campaign_trigger",
        "campaign_id": "c1",
        "allow_broadcast": True,
    },
    {
        "name": "blast",
        "topic": "orders",
        "action": "canvas_trigger",
        "canvas_id": "cv1",
        "allow_broadcast": True,
    },
    {
        "name": "blast",
        "topic": "orders",
        "action": "message_send",
        "allow_broadcast": True,
        "messages": {"email": {"app_id": "a", "body": "b"}},
    },
    {
        "name": "blast",
        "topic": "orders",
        "action": "campaign_schedule",
        "campaign_id": "c1",
        "allow_broadcast": True,
        "schedule": {"key": "$.id", "time": {"in": "1h"}},
    },
]


@pytest.mark.parametrize("rule", WHOLE_SEGMENT, ids=lambda r: str(r["action"]))
def test_whole_segment_broadcast_is_refused_by_check_with_file_field_and_reason(
    tmp_path: Path, rule: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: AssertionError in check (triggers, message_send), or "OK" and then every event
    # dead-lettered (campaign_schedule).
    err = _check(tmp_path, [rule], capsys)
    assert "rules[0]" in err and "whole segment" in err


@pytest.mark.parametrize("rule", WHOLE_SEGMENT[:1], ids=["campaign_trigger"])
def test_whole_segment_broadcast_is_refused_by_preview(
    tmp_path: Path, rule: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, [rule])
    ev = tmp_path / "e.json"
    ev.write_text('{"id": 1}')
    assert main(["preview", "--config", str(path), "--topic", "orders", str(ev)]) == 78
    assert "whole segment" in capsys.readouterr().err


def test_campaign_id_without_message_variation_id_fails_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rule = {
        "name": "m",
        "topic": "orders",
        "action": "message_send",
        "campaign_id": "camp-1",
        "recipient": {"external_user_id": "$.user.id"},
        "messages": {"email": {"app_id": "a", "subject": "s", "body": "b"}},
    }
    err = _check(tmp_path, [rule], capsys)
    assert "rules[0].messages.email" in err and "message_variation_id" in err


@pytest.mark.parametrize(
    ("messages", "text"),
    [
        ({"apple_push": {"alert": "x" * 1950}}, "Apple Push Length Exceeded"),
        ({"android_push": {"alert": "x" * 4100}}, "Android Push Length Exceeded"),
        ({"apple_push": {"alert": "hi", "extra": ["not", "an", "object"]}}, "Invalid Extra Push"),
    ],
)
def test_constant_push_content_over_brazes_limits_fails_check(
    tmp_path: Path, messages: dict[str, Any], text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for action, extra in (
        ("message_send", {}),
        ("message_schedule", {"schedule": {"key": "$.id", "time": {"in": "1h"}}}),
    ):
        rule = {
            "name": "m",
            "topic": "orders",
            "action": action,
            "recipient": {"external_user_id": "$.user.id"},
            "messages": messages,
            **extra,
        }
        err = _check(tmp_path, [rule], capsys)
        assert "rules[0].messages." in err and text in err, (action, err)


def test_push_content_from_the_event_over_the_limit_is_dead_lettered_not_sent() -> None:
    rule = {
        "name": "m",
        "topic": "orders",
        "action": "message_send",
        "recipient": {"external_user_id": "$.user.id"},
        "messages": {"apple_push": {"alert": "$.text"}},
    }
    with pytest.raises(RuleError, match="Apple Push Length Exceeded"):
        _build(rule, {"user": {"id": "u1"}, "text": "y" * 2000})
    shape, _, item = _build(rule, {"user": {"id": "u1"}, "text": "short"})
    assert item == "u1" and shape.base["messages"] == {"apple_push": {"alert": "short"}}


# ------------------------------------------------------------------ item 4


class _Clock(datetime):
    fixed = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # after 14:00 UTC

    @classmethod
    def now(cls, tz: Any = None) -> _Clock:  # type: ignore[override]
        return cls.fixed  # type: ignore[return-value]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> type[_Clock]:
    import bridge.actions.schedules as schedules

    monkeypatch.setattr(schedules, "datetime", _Clock)
    return _Clock


def _schedule_rule(**flags: Any) -> dict[str, Any]:
    return {
        "name": "s",
        "topic": "orders",
        "action": "campaign_schedule",
        "campaign_id": "c1",
        "recipient": {"external_user_id": "$.user.id"},
        "schedule": {"key": "$.id", "time": "$.at", **flags},
    }


def test_local_time_13h_behind_utc_has_passed_in_every_zone(clock: type[_Clock]) -> None:
    wall = (clock.fixed - timedelta(hours=13)).replace(tzinfo=None).isoformat()
    # Before: sent (bound 14 h), and Braze/the sandbox answered 400.
    with pytest.raises(RuleError, match="has passed in every time zone"):
        _build(_schedule_rule(in_local_time=True), {"user": {"id": "u"}, "id": 1, "at": wall})
    fresh = (clock.fixed - timedelta(hours=11)).replace(tzinfo=None).isoformat()
    _, _, payload = _build(
        _schedule_rule(in_local_time=True), {"user": {"id": "u"}, "id": 1, "at": fresh}
    )
    assert payload["schedule"] == {"time": fresh, "in_local_time": True}


def test_optimal_time_compares_dates(clock: type[_Clock]) -> None:
    # Today 00:00 at 15:00 UTC: the date has not passed in UTC-12. Before: dead-lettered.
    today = "2026-12-01T00:00:00"
    _, _, payload = _build(
        _schedule_rule(at_optimal_time=True), {"user": {"id": "u"}, "id": 1, "at": today}
    )
    assert payload["schedule"] == {"time": today, "at_optimal_time": True}
    # Yesterday's date is over in UTC-12 at 12:00 UTC today: refused.
    clock.fixed = datetime(2026, 12, 2, 12, 30, tzinfo=UTC)
    try:
        with pytest.raises(RuleError, match="has passed in every time zone"):
            _build(
                _schedule_rule(at_optimal_time=True),
                {"user": {"id": "u"}, "id": 1, "at": "2026-12-01T23:00:00"},
            )
    finally:
        clock.fixed = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def test_company_time_zone_is_the_stricter_reading(clock: type[_Clock]) -> None:
    # 15:00 UTC = 16:00 in Berlin: 15:30 wall time has passed there, not in every zone.
    rule = _schedule_rule(in_local_time=True, company_time_zone="Europe/Berlin")
    with pytest.raises(RuleError, match="company time zone Europe/Berlin"):
        _build(rule, {"user": {"id": "u"}, "id": 1, "at": "2026-12-01T15:30:00"})
    _, _, payload = _build(
        _schedule_rule(in_local_time=True),
        {"user": {"id": "u"}, "id": 1, "at": "2026-12-01T15:30:00"},
    )
    assert payload["schedule"]["time"] == "2026-12-01T15:30:00"


def test_unknown_company_time_zone_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown time zone"):
        settings([_schedule_rule(in_local_time=True, company_time_zone="Mars/Olympus")])


# ------------------------------------------------------------------ item 12


def test_segment_id_on_message_send_filters_named_users_or_broadcasts() -> None:
    named = {
        "name": "m",
        "topic": "orders",
        "action": "message_send",
        "recipient": {"external_user_id": "$.user.id"},
        "segment_id": "seg-1",
        "messages": {"email": {"app_id": "a", "body": "b"}},
    }
    shape, _, item = _build(named, {"user": {"id": "u1"}})
    assert shape.pool == "default" and shape.list_field == "external_user_ids" and item == "u1"
    assert shape.body([item]) == {
        "segment_id": "seg-1",
        "messages": {"email": {"app_id": "a", "body": "b"}},
        "external_user_ids": ["u1"],
    }
    broadcast = {k: v for k, v in named.items() if k != "recipient"}
    with pytest.raises(ConfigError, match="allow_broadcast"):
        settings([broadcast])
    shape, _, payload = _build(
        {**broadcast, "allow_broadcast": True, "segment_id": "$.seg"}, {"seg": "s9"}
    )
    assert shape.pool == "broadcast"
    assert (
        shape.body([payload])["segment_id"] == "s9" and shape.body([payload])["broadcast"] is True
    )


def test_segment_id_is_refused_outside_messages_endpoints() -> None:
    with pytest.raises(ConfigError, match="segment_id"):
        settings(
            [
                {
                    "name": "t",
                    "topic": "orders",
                    "action": "campaign_trigger",
                    "campaign_id": "c",
                    "recipient": {"external_user_id": "$.u"},
                    "segment_id": "s",
                }
            ]
        )


def test_recipients_with_an_audience_filter_batch_in_the_default_pool() -> None:
    rule = {
        "name": "t",
        "topic": "orders",
        "action": "campaign_trigger",
        "campaign_id": "c",
        "recipient": {"external_user_id": "$.u"},
        "audience": {
            "custom_attribute": {
                "custom_attribute_name": "vip",
                "comparison": "equals",
                "value": True,
            }
        },
    }
    (compiled,) = compile_rules(settings([rule])).rules
    s1, _, r1 = compiled.build_checked(event({"u": "a"}))
    s2, _, r2 = compiled.build_checked(event({"u": "b"}))
    assert s1 == s2 and s1.pool == "default" and s1.list_field == "recipients"
    body = s1.body([r1, r2])
    assert body["broadcast"] is False and body["audience"] == rule["audience"]
    assert body["recipients"] == [{"external_user_id": "a"}, {"external_user_id": "b"}]


def test_attachments_on_campaign_triggers_are_checked_per_event() -> None:
    rule = {
        "name": "t",
        "topic": "orders",
        "action": "campaign_trigger",
        "campaign_id": "c",
        "recipient": {"external_user_id": "$.u"},
        "attachments": "$.files",
    }
    files = [{"file_name": "invoice", "url": "https://x.example/i.pdf"}]
    shape, _, _ = _build(rule, {"u": "a", "files": files})
    assert shape.base["attachments"] == files
    with pytest.raises(RuleError, match=r"attachments\[0\]"):
        _build(rule, {"u": "a", "files": [{"file_name": "x"}]})
    with pytest.raises(ConfigError, match="attachments"):
        settings([{**rule, "action": "canvas_trigger", "campaign_id": None, "canvas_id": "cv"}])


def test_identifier_chosen_per_event_first_present() -> None:
    rule = {
        "name": "t",
        "topic": "orders",
        "action": "campaign_trigger",
        "campaign_id": "c",
        "recipient": {
            "choose": "first_present",
            "external_user_id": "$.user.id",
            "user_alias": {"alias_name": "$.user.anon", "alias_label": "shop"},
            "email": "$.user.email",
            "prioritization": ["identified"],
        },
    }
    assert _build(rule, {"user": {"id": 7, "email": "a@x.io"}})[2] == {"external_user_id": "7"}
    assert _build(rule, {"user": {"id": None, "anon": "n1"}})[2] == {
        "user_alias": {"alias_name": "n1", "alias_label": "shop"}
    }
    assert _build(rule, {"user": {"email": "a@x.io"}})[2] == {
        "email": "a@x.io",
        "prioritization": ["identified"],
    }
    with pytest.raises(RuleError, match="none of the recipient identifiers"):
        _build(rule, {"user": {}})
    one = {**rule, "recipient": {**rule["recipient"], "choose": "one"}}
    with pytest.raises(ConfigError, match="exactly one"):
        settings([one])


def test_message_send_first_present_goes_into_the_matching_list() -> None:
    rule = {
        "name": "m",
        "topic": "orders",
        "action": "message_send",
        "recipient": {
            "choose": "first_present",
            "external_user_id": "$.id",
            "user_alias": {"alias_name": "$.anon", "alias_label": "web"},
        },
        "messages": {"email": {"app_id": "a", "body": "b"}},
    }
    s1, _, i1 = _build(rule, {"id": "u1"})
    s2, _, i2 = _build(rule, {"anon": "n1"})
    assert (s1.list_field, i1) == ("external_user_ids", "u1")
    assert (s2.list_field, i2) == ("user_aliases", {"alias_name": "n1", "alias_label": "web"})


def test_message_schedule_update_with_messages_only() -> None:
    rule = {
        "name": "upd",
        "topic": "orders",
        "action": "message_schedule",
        "messages": {"apple_push": {"alert": "$.text"}},
        "schedule": {"name": "promo", "operation": "update", "key": "$.id"},
    }
    shape, key, payload = _build(rule, {"id": "k1", "text": "new"})
    assert shape.path == "/messages/schedule/update" and key == "schedule/promo/k1"
    assert payload == {"messages": {"apple_push": {"alert": "new"}}}
    with pytest.raises(ConfigError, match="schedule update needs time"):
        settings([{**rule, "action": "campaign_schedule", "campaign_id": "c", "messages": None}])


def test_live_activity_start_batches_external_user_ids() -> None:
    rule = {
        "name": "la",
        "topic": "sports",
        "action": "live_activity_start",
        "recipient": {"external_user_id": "$.fan"},
        "live_activity_start": {
            "app_id": "app-ios",
            "activity_id": "$.game",
            "activity_attributes_type": "FootballActivity",
            "activity_attributes": {"home": "$.home"},
            "content_state": {"score": 0},
            "notification": {"alert": {"title": "t", "body": "b"}},
        },
    }
    (compiled,) = compile_rules(settings([rule])).rules
    s1, _, a = compiled.build_checked(event({"fan": "f1", "game": "g1", "home": "H"}))
    s2, _, b = compiled.build_checked(event({"fan": "f2", "game": "g1", "home": "H"}))
    assert s1 == s2 and s1.path == "/messages/live_activity/start" and s1.pool == "default"
    assert s1.body([a, b]) == {
        "app_id": "app-ios",
        "activity_id": "g1",
        "activity_attributes_type": "FootballActivity",
        "activity_attributes": {"home": "H"},
        "content_state": {"score": 0},
        "notification": {"alert": {"title": "t", "body": "b"}},
        "external_user_ids": ["f1", "f2"],
    }
    seg = {k: v for k, v in rule.items() if k != "recipient"}
    shape, _, body = _build(
        {**seg, "allow_broadcast": True, "segment_id": "s1"}, {"game": "g", "home": "H"}
    )
    assert shape.body([body])["segment_id"] == "s1"
    with pytest.raises(ConfigError, match="one of recipient, segment_id, audience"):
        settings([{**rule, "segment_id": "s1"}])


@pytest.mark.parametrize(
    ("action", "key", "extra"),
    [
        ("message_send", "windows_phone8_push", {}),
        ("message_schedule", "whats_app", {"schedule": {"key": "$.id", "time": {"in": "1h"}}}),
    ],
)
def test_messaging_objects_braze_does_not_document_for_the_endpoint_fail_check(
    tmp_path: Path, action: str, key: str, extra: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    rule = {
        "name": "m",
        "topic": "orders",
        "action": action,
        "recipient": {"external_user_id": "$.user.id"},
        "messages": {key: {"alert": "x"}},
        **extra,
    }
    err = _check(tmp_path, [rule], capsys)
    assert f"rules[0].messages.{key}" in err and "not a messaging object" in err
