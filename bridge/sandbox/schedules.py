"""The nine schedule endpoints (campaign, Canvas and messages: create, update, delete) and the
schedule entries they keep in the sandbox state."""

from __future__ import annotations

from typing import Any

from bridge.braze_facts import SCHEDULE_MESSAGE_KEYS
from bridge.sandbox import messages as m
from bridge.sandbox import targets
from bridge.sandbox.context import Ctx, Outcome
from bridge.sandbox.fields import Invalid, require_str
from bridge.sandbox.schedule_object import check_schedule, local_send_started
from bridge.sandbox.state import ScheduleEntry
from bridge.sandbox.triggers import CAMPAIGN_PROPS, CANVAS_PROPS, check_trigger


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
    cid = targets.campaign_id(ctx, body, required=False)
    if body.get("recipients") is not None:
        raise Invalid(
            "recipients is not a parameter of /messages/schedule/create",
            "use external_user_ids / user_aliases / segment_id / audience",
        )
    targets.send_id(ctx, body, cid)
    m.check_flags(body, "override_messaging_limits")
    n, broadcast = m.check_messages_targeting(ctx, body)
    m.check_messages(
        body.get("messages"), SCHEDULE_MESSAGE_KEYS, cid is not None, ctx.variations(cid)
    )
    return _new_schedule(ctx, "messages", cid, body, n or 0, broadcast)


def messages_schedule_update(ctx: Ctx, body: dict[str, Any], _q: dict[str, str]) -> Outcome:
    entry = _existing(ctx, body, "messages", None)
    if body.get("schedule") is None and body.get("messages") is None:
        raise Invalid("schedule or messages is required")
    if body.get("messages") is not None:
        cid = entry.target_id
        m.check_messages(
            body["messages"], SCHEDULE_MESSAGE_KEYS, cid is not None, ctx.variations(cid)
        )
    return _replace(ctx, entry, body)


def messages_schedule_delete(ctx: Ctx, body: dict[str, Any], _q: dict[str, str]) -> Outcome:
    return _delete(ctx, _existing(ctx, body, "messages", None))


def campaign_schedule_create(ctx: Ctx, body: dict[str, Any], _q: dict[str, str]) -> Outcome:
    cid = targets.campaign_id(ctx, body)
    targets.send_id(ctx, body, cid)
    n, broadcast = check_trigger(ctx, body, CAMPAIGN_PROPS)
    return _new_schedule(ctx, "campaign", cid, body, n, broadcast)


def campaign_schedule_update(ctx: Ctx, body: dict[str, Any], _q: dict[str, str]) -> Outcome:
    cid = targets.campaign_id(ctx, body)
    entry = _existing(ctx, body, "campaign", cid)
    return _replace(ctx, entry, body)


def campaign_schedule_delete(ctx: Ctx, body: dict[str, Any], _q: dict[str, str]) -> Outcome:
    cid = targets.campaign_id(ctx, body)
    return _delete(ctx, _existing(ctx, body, "campaign", cid))


def canvas_schedule_create(ctx: Ctx, body: dict[str, Any], _q: dict[str, str]) -> Outcome:
    cid = targets.canvas_id(ctx, body)
    n, broadcast = check_trigger(ctx, body, CANVAS_PROPS)
    return _new_schedule(ctx, "canvas", cid, body, n, broadcast)


def canvas_schedule_update(ctx: Ctx, body: dict[str, Any], _q: dict[str, str]) -> Outcome:
    cid = targets.canvas_id(ctx, body)
    return _replace(ctx, _existing(ctx, body, "canvas", cid), body)


def canvas_schedule_delete(ctx: Ctx, body: dict[str, Any], _q: dict[str, str]) -> Outcome:
    cid = targets.canvas_id(ctx, body)
    return _delete(ctx, _existing(ctx, body, "canvas", cid))
