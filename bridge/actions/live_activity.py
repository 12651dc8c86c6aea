"""Live Activities.

* ``live_activity_update``: POST /messages/live_activity/update, one request per event.
* ``live_activity_start``: POST /messages/live_activity/start (push-to-start, default pool).
  Braze needs ``app_id``, ``activity_id``, ``activity_attributes_type``,
  ``activity_attributes``, ``content_state`` and ``notification``, and one of
  ``external_user_ids`` (≤ 50: events with an identical body are batched), ``segment_id`` or
  ``custom_audience`` (the rule's ``audience``; both need ``allow_broadcast: true``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bridge.actions.base import DEFAULT_POOL, Builder, Shape
from bridge.actions.common import RecipientFn, compile_recipient, identifier
from bridge.errors import RuleError
from bridge.models import Event
from bridge.rules.mapping import Mapper, compile_object, compile_value
from bridge.rules.spec import LiveActivitySettings, LiveActivityStartSettings, RuleSettings
from bridge.rules.times import TimeFn, braze_time, compile_time

PATH = "/messages/live_activity/update"
START_PATH = "/messages/live_activity/start"


def compile_live_activity(rule: RuleSettings, where: str) -> Builder:
    la = rule.live_activity
    assert la is not None  # noqa: S101 - validated
    name = rule.name
    w = f"{where}.live_activity"
    app_id, activity_id = _compile_ids(la, w, name)
    content = compile_value(la.content_state, f"{w}.content_state", name)
    end = (
        compile_value(la.end_activity, f"{w}.end_activity", name)
        if la.end_activity is not None
        else None
    )
    dismissal, stale = _compile_dates(la, w, name)
    notification = (
        compile_object(la.notification, f"{w}.notification", name)
        if isinstance(la.notification, dict)
        else compile_value(la.notification, f"{w}.notification", name)
        if la.notification is not None
        else None
    )
    shape = Shape.make("POST", PATH, {}, None, 1, DEFAULT_POOL)

    def build(e: Event) -> tuple[Shape, Any, Any]:
        state = content(e)
        if not isinstance(state, dict):
            raise RuleError("live_activity.content_state must be an object", rule=name)
        body: dict[str, Any] = {
            "app_id": identifier(app_id(e), name, "app_id"),
            "activity_id": identifier(activity_id(e), name, "activity_id"),
            "content_state": state,
        }
        if end is not None:
            v = end(e)
            if not isinstance(v, bool):
                raise RuleError("live_activity.end_activity must be true or false", rule=name)
            body["end_activity"] = v
        if dismissal is not None:
            body["dismissal_date"] = braze_time(dismissal(e), False)
        if stale is not None:
            body["stale_date"] = braze_time(stale(e), False)
        if notification is not None:
            n = notification(e)
            if not isinstance(n, dict):
                raise RuleError(
                    "live_activity.notification must be an apple_push object", rule=name
                )
            body["notification"] = n
        return shape, None, body

    return build


_Activity = LiveActivitySettings | LiveActivityStartSettings


def _compile_ids(la: _Activity, w: str, rule: str) -> tuple[Mapper, Mapper]:
    """(app_id, activity_id) of a live activity block, the fields both endpoints need."""
    app_id = compile_value(la.app_id, f"{w}.app_id", rule)
    activity_id = compile_value(la.activity_id, f"{w}.activity_id", rule)
    return app_id, activity_id


def _compile_dates(la: _Activity, w: str, rule: str) -> tuple[TimeFn | None, TimeFn | None]:
    """(dismissal_date, stale_date) of a live activity block, each None when not given."""
    dismissal = (
        compile_time(la.dismissal_date, f"{w}.dismissal_date", rule)
        if la.dismissal_date is not None
        else None
    )
    stale = (
        compile_time(la.stale_date, f"{w}.stale_date", rule) if la.stale_date is not None else None
    )
    return dismissal, stale


def _obj(value: Any, what: str, rule: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RuleError(f"{what} must be an object", rule=rule)
    return value


def compile_live_activity_start(rule: RuleSettings, max_recipients: int, where: str) -> Builder:
    la = rule.live_activity_start
    assert la is not None  # noqa: S101 - validated
    name = rule.name
    w = f"{where}.live_activity_start"
    app_id, activity_id = _compile_ids(la, w, name)
    attrs_type = compile_value(la.activity_attributes_type, f"{w}.activity_attributes_type", name)
    attrs = compile_value(la.activity_attributes, f"{w}.activity_attributes", name)
    content = compile_value(la.content_state, f"{w}.content_state", name)
    notification = compile_value(la.notification, f"{w}.notification", name)
    dismissal, stale = _compile_dates(la, w, name)

    def body_of(e: Event) -> dict[str, Any]:
        body: dict[str, Any] = {
            "app_id": identifier(app_id(e), name, "app_id"),
            "activity_id": identifier(activity_id(e), name, "activity_id"),
            "activity_attributes_type": identifier(attrs_type(e), name, "activity_attributes_type"),
            "activity_attributes": _obj(attrs(e), "live_activity_start.activity_attributes", name),
            "content_state": _obj(content(e), "live_activity_start.content_state", name),
            "notification": _obj(
                notification(e), "live_activity_start.notification (an apple_push object)", name
            ),
        }
        if dismissal is not None:
            body["dismissal_date"] = braze_time(dismissal(e), False)
        if stale is not None:
            body["stale_date"] = braze_time(stale(e), False)
        return body

    audience = compile_object(rule.audience, f"{where}.audience", name) if rule.audience else None
    segment = (
        compile_value(rule.segment_id, f"{where}.segment_id", name)
        if rule.segment_id is not None
        else None
    )
    if rule.recipient is not None:
        recipient = compile_recipient(rule.recipient, name, f"{where}.recipient")
        return _start_for_users(body_of, recipient, max_recipients)
    return _start_for_audience(body_of, segment, audience, name)


def _start_for_users(
    body_of: Callable[[Event], dict[str, Any]], recipient: RecipientFn, max_recipients: int
) -> Builder:
    """Named users: events with an identical body are batched into ``external_user_ids``."""

    def to_users(e: Event) -> tuple[Shape, Any, Any]:
        identity, r = recipient(e)
        shape = Shape.make(
            "POST", START_PATH, body_of(e), "external_user_ids", max_recipients, DEFAULT_POOL
        )
        return shape, identity, r["external_user_id"]

    return to_users


def _start_for_audience(
    body_of: Callable[[Event], dict[str, Any]],
    segment: Mapper | None,
    audience: Mapper | None,
    rule: str,
) -> Builder:
    """A segment or custom audience: one request per event."""
    shape = Shape.make("POST", START_PATH, {}, None, 1, DEFAULT_POOL)

    def to_audience(e: Event) -> tuple[Shape, Any, Any]:
        body = body_of(e)
        if segment is not None:
            body["segment_id"] = identifier(segment(e), rule, "segment_id")
        if audience is not None:
            body["custom_audience"] = audience(e)
        return shape, None, body

    return to_audience
