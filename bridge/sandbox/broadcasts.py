"""`GET /messages/scheduled_broadcasts`: the configured dashboard broadcasts and, optionally,
the schedules created through the API, due up to `end_time`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bridge.sandbox.context import Ctx, Outcome
from bridge.sandbox.fields import Invalid, as_utc, bad_request, parse_iso


def scheduled_broadcasts(ctx: Ctx, _b: dict[str, Any], query: dict[str, str]) -> Outcome:
    raw = query.get("end_time")
    if not raw:
        raise Invalid("end_time is required", "pass ?end_time=<ISO-8601 datetime>")
    end_dt = parse_iso(raw)
    if end_dt is None:
        raise bad_request(f"end_time {raw!r} is not an ISO-8601 datetime")
    # Braze: end_time "is treated as midnight in UTC time by the API"
    end_day = as_utc(end_dt).date()
    now, end = ctx.now_dt, datetime(end_day.year, end_day.month, end_day.day, tzinfo=UTC)
    items = _configured(ctx, now, end)
    if ctx.opts.list_api_schedules:
        tz = ctx.opts.company_time_zone
        for e in ctx.state.schedules.values():
            if now <= e.schedule.next_send_utc <= end:
                items.append((e.schedule.next_send_utc, e.broadcast_item(tz)))
    items.sort(key=lambda pair: pair[0])
    return Outcome({"scheduled_broadcasts": [item for _, item in items]})


def _configured(ctx: Ctx, now: datetime, end: datetime) -> list[tuple[datetime, dict[str, Any]]]:
    """The configured broadcasts due between `now` and `end`, each with its send time."""
    items: list[tuple[datetime, dict[str, Any]]] = []
    for i, b in enumerate(ctx.opts.scheduled_broadcasts):
        when = parse_iso(b.get("next_send_time"))
        if when is not None and now <= as_utc(when) <= end:
            item = {
                "name": f"Broadcast {i + 1}",
                "id": f"broadcast-{i + 1}",
                "type": "Campaign",
                "tags": [],
                "schedule_type": ctx.opts.company_time_zone,
            }
            item.update(b)
            items.append((as_utc(when), item))
    return items
