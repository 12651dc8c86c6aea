"""``live_activity_update``: POST /messages/live_activity/update, one request per event."""

from __future__ import annotations

from typing import Any

from bridge.actions.base import DEFAULT_POOL, Builder, Shape
from bridge.actions.common import identifier
from bridge.errors import RuleError
from bridge.models import Event
from bridge.rules.mapping import compile_object, compile_value
from bridge.rules.spec import RuleSettings
from bridge.rules.times import braze_time, compile_time

PATH = "/messages/live_activity/update"


def compile_live_activity(rule: RuleSettings, where: str) -> Builder:
    la = rule.live_activity
    assert la is not None  # noqa: S101 - validated
    name = rule.name
    w = f"{where}.live_activity"
    app_id = compile_value(la.app_id, f"{w}.app_id", name)
    activity_id = compile_value(la.activity_id, f"{w}.activity_id", name)
    content = compile_value(la.content_state, f"{w}.content_state", name)
    end = (
        compile_value(la.end_activity, f"{w}.end_activity", name)
        if la.end_activity is not None
        else None
    )
    dismissal = (
        compile_time(la.dismissal_date, f"{w}.dismissal_date", name)
        if la.dismissal_date is not None
        else None
    )
    stale = (
        compile_time(la.stale_date, f"{w}.stale_date", name) if la.stale_date is not None else None
    )
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
