"""The 15 Braze messaging endpoints: per-endpoint validation and success bodies (§3)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from bridge.sandbox import messages as m
from bridge.sandbox import ratelimit as rl
from bridge.sandbox.faults import Faults
from bridge.sandbox.options import SandboxOptions
from bridge.sandbox.ratelimit import Pools
from bridge.sandbox.state import ScheduleEntry, State
from bridge.sandbox.validate import (
    MSG_NO_RECIPIENTS,
    SIZE_GROWTH,
    Invalid,
    ScheduleRules,
    as_utc,
    bad_request,
    check_audience,
    check_properties,
    check_recipients,
    check_schedule,
    check_send_id,
    check_targeting,
    local_send_started,
    optional_str,
    parse_iso,
    require_str,
)

NOTICE_PAUSED = (
    "The Canvas is paused. Resume the Canvas to ensure trigger requests will take effect."
)
NOTICE_ARCHIVED = (
    "The Canvas is archived. Unarchive the Canvas to ensure trigger requests will take effect."
)
CANVAS_PROPS = ("context", "canvas_entry_properties")
CAMPAIGN_PROPS = ("trigger_properties",)


class OverLimit(Exception):
    """The request exceeds its pool (raised by handlers that charge their pool themselves)."""


MSG_INVALID_SEND_ID = "Invalid send_id"


@dataclass(slots=True)
class Ctx:
    opts: SandboxOptions
    state: State
    pools: Pools
    now: float
    body_size: int = 0
    faults: Faults | None = None

    @property
    def rules(self) -> ScheduleRules:
        return ScheduleRules(
            both_flags_ok=self.opts.allow_both_schedule_flags,
            local_offset_ok=self.opts.allow_local_time_offset,
        )

    def variations(self, campaign_id: str | None) -> dict[str, str | None] | None:
        return None if self.faults is None else self.faults.variations_for(campaign_id)

    @property
    def sizes(self) -> int | None:
        """The 50 KB object limit, or None when this body is too small to reach it."""
        limit = self.opts.max_properties_bytes
        return limit if self.body_size * SIZE_GROWTH > limit else None

    @property
    def now_dt(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)

    def dispatch_id(self) -> str:
        return self.state.ids.hex()


@dataclass(slots=True)
class Outcome:
    body: dict[str, Any]
    recipients: int = 0


Handler = Callable[[Ctx, dict[str, Any], dict[str, str]], Outcome]


def _campaign_id(ctx: Ctx, body: dict[str, Any], required: bool = True) -> str | None:
    cid = require_str(body, "campaign_id") if required else optional_str(body, "campaign_id")
    known = ctx.opts.campaign_ids
    if cid is not None and known is not None and cid not in known:
        raise Invalid("Invalid Campaign ID", f"no API-triggered campaign with id {cid!r}")
    return cid


def _canvas_id(ctx: Ctx, body: dict[str, Any]) -> str:
    cid = require_str(body, "canvas_id")
    known = ctx.opts.canvas_ids
    if known is not None and cid not in known:
        raise Invalid("Invalid Canvas ID", f"no API-triggered Canvas with id {cid!r}")
    return cid


def _audience(body: dict[str, Any]) -> None:
    if body.get("audience") is not None:
        check_audience(body["audience"])


def _attachments(body: dict[str, Any], broadcast: bool) -> None:
    att = body.get("attachments")
    if att is None:
        return
    if broadcast:
        raise Invalid("attachments cannot be combined with broadcast: true")
    if not isinstance(att, list):
        raise Invalid("attachments must be an array of {file_name, url} objects")
    for i, item in enumerate(att):
        if not isinstance(item, dict):
            raise Invalid(f"attachments[{i}] must be an object")
        require_str(item, "file_name", f"attachments[{i}].")
        require_str(item, "url", f"attachments[{i}].")


def _send_id(ctx: Ctx, body: dict[str, Any], cid: str | None) -> str | None:
    """`send_id`; in strict mode it must have been created for this campaign."""
    send_id = check_send_id(body)
    if send_id is None or not ctx.opts.strict_send_ids:
        return send_id
    if cid is None:
        raise Invalid(
            MSG_INVALID_SEND_ID,
            f"send_id {send_id!r} needs a campaign_id (send ids belong to a campaign)",
        )
    if (cid, send_id) not in ctx.state.send_ids:
        mine = [c for c, s in ctx.state.send_ids if s == send_id]
        why = (
            f"it was created for campaign_id {mine[0]!r}"
            if mine
            else "create it with POST /sends/id/create first"
        )
        raise Invalid(
            MSG_INVALID_SEND_ID,
            f"send_id {send_id!r} does not exist for campaign_id {cid!r}: {why}",
        )
    return send_id


def _trigger(ctx: Ctx, body: dict[str, Any], props: tuple[str, ...]) -> tuple[int, bool]:
    """Shared part of the campaign/canvas trigger send and schedule-create bodies."""
    for key in props:
        check_properties(body, key, sizes=ctx.sizes)
    n = check_recipients(body, props, ctx.sizes)
    _audience(body)
    broadcast = check_targeting(body, n, "recipients", require_flag=ctx.opts.require_broadcast_flag)
    return n or 0, broadcast


def campaign_send(ctx: Ctx, body: dict[str, Any], _q: dict[str, str]) -> Outcome:
    cid = _campaign_id(ctx, body)
    send_id = _send_id(ctx, body, cid)
    n, broadcast = _trigger(ctx, body, CAMPAIGN_PROPS)
    _attachments(body, broadcast)
    out: dict[str, Any] = {"dispatch_id": ctx.dispatch_id(), "message": "success"}
    if broadcast:  # tracked send instance (§2.4)
        out["send_id"] = send_id or ctx.state.ids.hex(8)
    return Outcome(out, n)


def canvas_send(ctx: Ctx, body: dict[str, Any], _q: dict[str, str]) -> Outcome:
    cid = _canvas_id(ctx, body)
    n, _ = _trigger(ctx, body, CANVAS_PROPS)
    out: dict[str, Any] = {"dispatch_id": ctx.dispatch_id(), "message": "success"}
    if cid in ctx.opts.archived_canvases:
        return Outcome({"notice": NOTICE_ARCHIVED, **out}, 0)
    if cid in ctx.opts.paused_canvases:
        return Outcome({"notice": NOTICE_PAUSED, **out}, 0)
    return Outcome(out, n)


def _messages_targeting(ctx: Ctx, body: dict[str, Any]) -> tuple[int | None, bool]:
    optional_str(body, "segment_id")
    m.check_subscription_state(body)
    n = m.check_user_lists(body)
    _audience(body)
    broadcast = check_targeting(
        body,
        n,
        "external_user_ids/user_aliases",
        segment_ok=True,
        require_flag=ctx.opts.require_broadcast_flag,
    )
    return n, broadcast


def messages_send(ctx: Ctx, body: dict[str, Any], _q: dict[str, str]) -> Outcome:
    cid = _campaign_id(ctx, body, required=False)
    send_id = _send_id(ctx, body, cid)
    m.check_flags(body, "override_frequency_capping")
    n, broadcast = _messages_targeting(ctx, body)
    m.check_messages(
        body.get("messages"), m.SEND_MESSAGE_KEYS, cid is not None, ctx.variations(cid)
    )
    out: dict[str, Any] = {"dispatch_id": ctx.dispatch_id(), "message": "success"}
    if broadcast and cid is not None:  # API campaigns sent as a broadcast are tracked (§2.4)
        out["send_id"] = send_id or ctx.state.ids.hex(8)
    return Outcome(out, n or 0)


# ---------------------------------------------------------------- schedules


def _new_schedule(
    ctx: Ctx, kind: str, target: str | None, body: dict[str, Any], n: int, broadcast: bool
) -> Outcome:
    sched = check_schedule(body.get("schedule"), ctx.now_dt, ctx.rules)
    sid = ctx.state.ids.hex()
    dispatch = ctx.dispatch_id()
    entry = ScheduleEntry(sid, kind, target, sched, n, broadcast, dispatch, ctx.now, ctx.now)
    ctx.state.schedules[sid] = entry
    return Outcome({"dispatch_id": dispatch, "schedule_id": sid, "message": "success"}, n)


def _existing(ctx: Ctx, body: dict[str, Any], kind: str, target: str | None) -> ScheduleEntry:
    sid = require_str(body, "schedule_id")
    entry = ctx.state.schedules.get(sid)
    if entry is None:
        why = "it was deleted" if sid in ctx.state.deleted_schedules else "it does not exist"
        raise Invalid("Invalid schedule_id", f"schedule_id {sid!r} cannot be used: {why}")
    if entry.kind != kind:
        raise Invalid(
            "Invalid schedule_id", f"schedule_id {sid!r} belongs to a {entry.kind} schedule"
        )
    if target is not None and entry.target_id != target:
        field = "canvas_id" if kind == "canvas" else "campaign_id"
        raise Invalid("Invalid schedule_id", f"schedule_id {sid!r} does not belong to this {field}")
    return entry


def _delete(ctx: Ctx, entry: ScheduleEntry) -> Outcome:
    del ctx.state.schedules[entry.schedule_id]
    ctx.state.deleted_schedules.add(entry.schedule_id)
    return Outcome({"message": "success"})


def _replace(ctx: Ctx, entry: ScheduleEntry, body: dict[str, Any]) -> Outcome:
    new = None
    if body.get("schedule") is not None or entry.kind != "messages":
        new = check_schedule(body.get("schedule"), ctx.now_dt, ctx.rules)
    if local_send_started(entry.schedule, ctx.now_dt):
        # "Updates aren't applied if the original schedule used local time and the original
        # time has already passed in any time zone": answered success, not applied.
        entry.ignore_update(ctx.now, body)
        return Outcome({"message": "success"})
    if new is not None:
        entry.schedule = new
    entry.updated_at = ctx.now
    return Outcome({"message": "success"})


def messages_schedule_create(ctx: Ctx, body: dict[str, Any], _q: dict[str, str]) -> Outcome:
    cid = _campaign_id(ctx, body, required=False)
    if body.get("recipients") is not None:
        raise Invalid(
            "recipients is not a parameter of /messages/schedule/create",
            "use external_user_ids / user_aliases / segment_id / audience",
        )
    _send_id(ctx, body, cid)
    m.check_flags(body, "override_messaging_limits")
    n, broadcast = _messages_targeting(ctx, body)
    m.check_messages(
        body.get("messages"), m.SCHEDULE_MESSAGE_KEYS, cid is not None, ctx.variations(cid)
    )
    return _new_schedule(ctx, "messages", cid, body, n or 0, broadcast)


def messages_schedule_update(ctx: Ctx, body: dict[str, Any], _q: dict[str, str]) -> Outcome:
    entry = _existing(ctx, body, "messages", None)
    if body.get("schedule") is None and body.get("messages") is None:
        raise Invalid("schedule or messages is required")
    if body.get("messages") is not None:
        cid = entry.target_id
        m.check_messages(
            body["messages"], m.SCHEDULE_MESSAGE_KEYS, cid is not None, ctx.variations(cid)
        )
    return _replace(ctx, entry, body)


def messages_schedule_delete(ctx: Ctx, body: dict[str, Any], _q: dict[str, str]) -> Outcome:
    return _delete(ctx, _existing(ctx, body, "messages", None))


def campaign_schedule_create(ctx: Ctx, body: dict[str, Any], _q: dict[str, str]) -> Outcome:
    cid = _campaign_id(ctx, body)
    _send_id(ctx, body, cid)
    n, broadcast = _trigger(ctx, body, CAMPAIGN_PROPS)
    return _new_schedule(ctx, "campaign", cid, body, n, broadcast)


def campaign_schedule_update(ctx: Ctx, body: dict[str, Any], _q: dict[str, str]) -> Outcome:
    cid = _campaign_id(ctx, body)
    entry = _existing(ctx, body, "campaign", cid)
    return _replace(ctx, entry, body)


def campaign_schedule_delete(ctx: Ctx, body: dict[str, Any], _q: dict[str, str]) -> Outcome:
    cid = _campaign_id(ctx, body)
    return _delete(ctx, _existing(ctx, body, "campaign", cid))


def canvas_schedule_create(ctx: Ctx, body: dict[str, Any], _q: dict[str, str]) -> Outcome:
    cid = _canvas_id(ctx, body)
    n, broadcast = _trigger(ctx, body, CANVAS_PROPS)
    return _new_schedule(ctx, "canvas", cid, body, n, broadcast)


def canvas_schedule_update(ctx: Ctx, body: dict[str, Any], _q: dict[str, str]) -> Outcome:
    cid = _canvas_id(ctx, body)
    return _replace(ctx, _existing(ctx, body, "canvas", cid), body)


def canvas_schedule_delete(ctx: Ctx, body: dict[str, Any], _q: dict[str, str]) -> Outcome:
    cid = _canvas_id(ctx, body)
    return _delete(ctx, _existing(ctx, body, "canvas", cid))


# ---------------------------------------------------------------- others


def sends_id_create(ctx: Ctx, body: dict[str, Any], _q: dict[str, str]) -> Outcome:
    """Re-creating an existing (campaign_id, send_id) pair succeeds and costs no quota."""
    cid = _campaign_id(ctx, body) or ""
    send_id = check_send_id(body)
    if send_id is not None and (cid, send_id) in ctx.state.send_ids:
        faults = ctx.faults
        if faults is not None and faults.duplicate_send_id_status is not None:
            raise Invalid(
                faults.duplicate_send_id_message,
                f"send_id {send_id!r} was already created for campaign_id {cid!r}",
                status=faults.duplicate_send_id_status,
            )
        return Outcome({"message": "success", "send_id": send_id})
    if not ctx.pools[rl.SENDS_ID].take(ctx.now):
        raise OverLimit
    if send_id is None:
        send_id = ctx.state.ids.hex(8)
    ctx.state.send_ids[(cid, send_id)] = ctx.now
    return Outcome({"message": "success", "send_id": send_id})


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
    if ctx.opts.list_api_schedules:
        tz = ctx.opts.company_time_zone
        for e in ctx.state.schedules.values():
            if now <= e.schedule.next_send_utc <= end:
                items.append((e.schedule.next_send_utc, e.broadcast_item(tz)))
    items.sort(key=lambda pair: pair[0])
    return Outcome({"scheduled_broadcasts": [item for _, item in items]})


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


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    handler: Handler
    broadcast_capable: bool = False  # broadcast/audience/segment requests use the broadcast pool
    pool: str = rl.DEFAULT
    error_key: str = "message"  # live activity answers 400s as {"error": ...}


ENDPOINTS: dict[str, Endpoint] = {
    "/campaigns/trigger/send": Endpoint("POST", campaign_send, True),
    "/canvas/trigger/send": Endpoint("POST", canvas_send, True),
    "/messages/send": Endpoint("POST", messages_send, True),
    "/campaigns/trigger/schedule/create": Endpoint("POST", campaign_schedule_create, True),
    "/campaigns/trigger/schedule/update": Endpoint("POST", campaign_schedule_update),
    "/campaigns/trigger/schedule/delete": Endpoint("POST", campaign_schedule_delete),
    "/canvas/trigger/schedule/create": Endpoint("POST", canvas_schedule_create, True),
    "/canvas/trigger/schedule/update": Endpoint("POST", canvas_schedule_update),
    "/canvas/trigger/schedule/delete": Endpoint("POST", canvas_schedule_delete),
    "/messages/schedule/create": Endpoint("POST", messages_schedule_create),
    "/messages/schedule/update": Endpoint("POST", messages_schedule_update),
    "/messages/schedule/delete": Endpoint("POST", messages_schedule_delete),
    "/sends/id/create": Endpoint("POST", sends_id_create, pool=rl.SENDS_ID),
    "/messages/live_activity/update": Endpoint("POST", live_activity_update, error_key="error"),
    "/messages/live_activity/start": Endpoint("POST", live_activity_start, error_key="error"),
    "/messages/scheduled_broadcasts": Endpoint("GET", scheduled_broadcasts),
}


def is_broadcast(path: str, body: dict[str, Any]) -> bool:
    """Whether a request goes to the broadcast pool: it targets a segment, an audience or the
    whole campaign segment, and names no users ("when only specifying a segment or Connected
    Audience"). `segment_id` counts on `/messages/*` only (elsewhere it is not a parameter)."""
    if body.get("recipients") or body.get("external_user_ids") or body.get("user_aliases"):
        return False
    return (
        body.get("broadcast") is True
        or body.get("audience") is not None
        or (path.startswith("/messages/") and body.get("segment_id") is not None)
    )


def audience_key(body: dict[str, Any]) -> str:
    """The "unique audience" of a broadcast request (§2.3 rule 4)."""
    parts = [
        body.get("campaign_id"),
        body.get("canvas_id"),
        body.get("segment_id"),
        body.get("audience"),
    ]
    return orjson.dumps(parts, option=orjson.OPT_SORT_KEYS).decode()
