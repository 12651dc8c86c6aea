"""`/messages/live_activity/update` and `/messages/live_activity/start` (push-to-start)."""

from __future__ import annotations

from typing import Any

from bridge.sandbox import messages as m
from bridge.sandbox.audience import check_audience
from bridge.sandbox.context import Ctx, Outcome
from bridge.sandbox.fields import MSG_NO_RECIPIENTS, Invalid, optional_str, parse_iso, require_str


def live_activity_update(ctx: Ctx, body: dict[str, Any], _q: dict[str, str]) -> Outcome:
    for key in ("app_id", "activity_id"):
        require_str(body, key)
    if body.get("content_state") is None:
        raise Invalid("content_state is required")
    if not isinstance(body["content_state"], dict):
        raise Invalid("content_state must be an object")
    m.check_flags(body, "end_activity")
    _live_activity_common(body)
    note = body.get("notification")
    if note is not None and not isinstance(note, dict):
        raise Invalid("notification must be an apple_push object")
    return Outcome({"message": "success"})


def _live_activity_common(body: dict[str, Any]) -> None:
    for key in ("dismissal_date", "stale_date"):
        value = body.get(key)
        if value is not None and parse_iso(value) is None:
            raise Invalid(f"{key} must be an ISO-8601 datetime")


def live_activity_start(ctx: Ctx, body: dict[str, Any], _q: dict[str, str]) -> Outcome:
    """Push-to-start (`/messages/live_activity/start`), default pool like the update."""
    for key in ("app_id", "activity_id", "activity_attributes_type"):
        require_str(body, key)
    for key in ("activity_attributes", "content_state", "notification"):
        if body.get(key) is None:
            raise Invalid(f"{key} is required")
        if not isinstance(body[key], dict):
            raise Invalid(f"{key} must be an object")
    _live_activity_common(body)
    optional_str(body, "segment_id")
    n = m.check_user_lists({"external_user_ids": body.get("external_user_ids")})
    # the body names it custom_audience; the parameter table says "audience"
    for key in ("custom_audience", "audience"):
        if body.get(key) is not None:
            check_audience(body[key], key)
    targeted = any(body.get(k) is not None for k in ("segment_id", "custom_audience", "audience"))
    if not n and not targeted:
        raise Invalid(
            MSG_NO_RECIPIENTS,
            "one of external_user_ids, segment_id or custom_audience is required",
        )
    return Outcome({"message": "success"}, n or 0)
