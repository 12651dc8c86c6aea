"""Scheduled sends with a business-key lifecycle.

| action            | create                                  | update, delete     |
|-------------------|-----------------------------------------|--------------------|
| campaign_schedule | POST /campaigns/trigger/schedule/create | .../update, .../delete |
| canvas_schedule   | POST /canvas/trigger/schedule/create    | .../update, .../delete |
| message_schedule  | POST /messages/schedule/create          | .../update, .../delete |

The builder yields the request without ``schedule_id``; the schedule coordinator
(:mod:`bridge.schedules`) fills it in from the state topic, keyed by
``schedule/<name>/<business key>``.

Targeting on create: a recipient (``audience``/``segment_id`` beside it only filter the named
users), or, with ``allow_broadcast: true``, an ``audience`` (or ``segment_id`` for
``message_schedule``). A ``message_schedule`` update may carry new ``messages`` only (no time):
Braze "accepts updates to either the schedule or messages parameter or both".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bridge.actions.base import BROADCAST_POOL, DEFAULT_POOL, Builder, Shape
from bridge.actions.common import (
    check_messages_config,
    check_size,
    compile_recipient,
    generated_send_id,
    identifier,
)
from bridge.actions.messages import compile_checked_messages
from bridge.actions.triggers import props_spec, target_fields
from bridge.braze_facts import SCHEDULE_MESSAGE_KEYS
from bridge.errors import RuleError, RuleSpecError
from bridge.models import Event
from bridge.rules.mapping import compile_object, compile_value, is_constant
from bridge.rules.spec import RuleSettings, ScheduleSettings
from bridge.rules.times import (
    TimeFn,
    braze_time,
    compile_time,
    local_time_passed,
    optimal_date_passed,
)


def schedule_name(rule: RuleSettings) -> str:
    assert rule.schedule is not None  # noqa: S101 - validated
    return rule.schedule.name or rule.name


def _paths(rule: RuleSettings) -> str:
    if rule.action == "campaign_schedule":
        return "/campaigns/trigger/schedule"
    if rule.action == "canvas_schedule":
        return "/canvas/trigger/schedule"
    return "/messages/schedule"


def compile_schedule(rule: RuleSettings, where: str) -> Builder:
    sched = rule.schedule
    assert sched is not None  # noqa: S101 - validated
    name = rule.name
    op = sched.operation
    path = f"{_paths(rule)}/{op}"
    state_key = _state_key(rule, sched, where)
    time_fn = compile_time(sched.time, f"{where}.schedule.time", name) if sched.time else None
    schedule_obj = _schedule_object(sched, time_fn, name)
    base: dict[str, Any] = {} if rule.action == "message_schedule" else target_fields(rule)
    if op != "create":
        base.pop("send_id", None)
    messages = None
    if rule.messages:
        need_variation = rule.action == "message_schedule" and bool(rule.campaign_id)
        check_messages_config(
            rule.messages,
            need_variation,
            where,
            is_constant(rule.messages),
            SCHEDULE_MESSAGE_KEYS,
        )
        messages = compile_checked_messages(rule.messages, need_variation, where, name)

    if op == "delete":
        shape = Shape.make("POST", path, base, None, 1, DEFAULT_POOL, "schedule_delete")

        def delete(e: Event) -> tuple[Shape, Any, Any]:
            return shape, state_key(e), {}

        return delete

    if op == "update":
        shape = Shape.make("POST", path, base, None, 1, DEFAULT_POOL, "schedule_update")
        with_time = time_fn is not None

        def update(e: Event) -> tuple[Shape, Any, Any]:
            payload: dict[str, Any] = {}
            if with_time:
                payload["schedule"] = schedule_obj(e)
            if messages is not None:
                payload["messages"] = messages(e)
            return shape, state_key(e), payload

        return update

    targets = _CreateTargets(rule, where)
    if rule.action == "message_schedule":
        return _create_message(rule, path, base, targets, schedule_obj, state_key, messages)
    return _create_trigger(rule, where, path, base, targets, schedule_obj, state_key)


def _state_key(rule: RuleSettings, sched: ScheduleSettings, where: str) -> Callable[[Event], str]:
    """(event) -> the schedule's lifecycle key ``schedule/<name>/<business key>``."""
    name = rule.name
    key_fn = compile_value(sched.key, f"{where}.schedule.key", name)
    sname = schedule_name(rule)

    def state_key(e: Event) -> str:
        return f"schedule/{sname}/{identifier(key_fn(e), name, 'schedule.key')}"

    return state_key


def _schedule_object(
    sched: ScheduleSettings, time_fn: TimeFn | None, rule: str
) -> Callable[[Event], dict[str, Any]]:
    """(event) -> Braze's ``schedule`` object; a time that has passed (in every time zone, or
    the company's, for local sends) fails the event."""
    local = sched.in_local_time or sched.at_optimal_time
    company_tz = ZoneInfo(sched.company_time_zone) if sched.company_time_zone else None
    flags: dict[str, Any] = {}
    if sched.in_local_time:
        flags["in_local_time"] = True
    if sched.at_optimal_time:
        flags["at_optimal_time"] = True

    def schedule_obj(e: Event) -> dict[str, Any]:
        assert time_fn is not None  # noqa: S101
        at = time_fn(e)
        now = datetime.now(UTC)
        if sched.in_local_time:
            if local_time_passed(at, now, company_tz):
                where_passed = (
                    f"in the company time zone {sched.company_time_zone}"
                    if company_tz is not None
                    else "in every time zone"
                )
                raise RuleError(
                    f"schedule time {braze_time(at, True)} (local) has passed {where_passed}",
                    rule=rule,
                )
        elif sched.at_optimal_time:
            if optimal_date_passed(at, now):
                raise RuleError(
                    f"schedule date {at.date().isoformat()} (at_optimal_time) has passed in "
                    "every time zone",
                    rule=rule,
                )
        elif at < now - timedelta(seconds=60):
            raise RuleError(f"schedule time {braze_time(at, False)} is in the past", rule=rule)
        return {"time": braze_time(at, local), **flags}

    return schedule_obj


class _CreateTargets:
    """Who a schedule create reaches: a recipient, an audience and a segment (each compiled,
    or None), and the rate-limit pool that follows from them."""

    def __init__(self, rule: RuleSettings, where: str) -> None:
        name = rule.name
        # Braze meters /messages/schedule/create in the shared hourly pool even with an
        # audience; campaign/Canvas schedule creates with an audience are broadcast on the live
        # limits page (their endpoint pages say default: unconfirmed -- the pacer adopts
        # whatever numbers the answers carry, so a wrong guess costs no blocked window). Named
        # users plus an audience filter are the default pool (the sender decides that from the
        # request body too).
        broadcast = (
            rule.audience is not None
            and rule.recipient is None
            and rule.action != "message_schedule"
        )
        self.pool = BROADCAST_POOL if broadcast else DEFAULT_POOL
        self.audience = (
            compile_object(rule.audience, f"{where}.audience", name) if rule.audience else None
        )
        self.recipient = (
            compile_recipient(rule.recipient, name, f"{where}.recipient")
            if rule.recipient
            else None
        )
        self.segment = (
            compile_value(rule.segment_id, f"{where}.segment_id", name)
            if rule.segment_id is not None
            else None
        )
        if self.recipient is None and self.audience is None and self.segment is None:
            # RuleSettings refuses whole-segment broadcasts; never fail per event.
            raise RuleSpecError(
                f"{where}.recipient", f"{rule.action} create needs a recipient or audience"
            )


def _create_message(
    rule: RuleSettings,
    path: str,
    base: dict[str, Any],
    targets: _CreateTargets,
    schedule_obj: Callable[[Event], dict[str, Any]],
    state_key: Callable[[Event], str],
    messages: Callable[[Event], dict[str, Any]] | None,
) -> Builder:
    """POST /messages/schedule/create: inline messages to named users (external_user_ids or
    user_aliases), an audience or a segment."""
    name = rule.name
    for opt in ("override_frequency_capping", "recipient_subscription_state"):
        v = getattr(rule, opt)
        if v is not None:
            key = "override_messaging_limits" if opt == "override_frequency_capping" else opt
            base[key] = v
    if rule.campaign_id:
        base["campaign_id"] = rule.campaign_id
    if rule.send_id:
        base["send_id"] = rule.send_id
    shape = Shape.make("POST", path, base, None, 1, targets.pool, "schedule_create")
    gen = rule.campaign_id if rule.generate_send_id else None
    audience, segment, recipient = targets.audience, targets.segment, targets.recipient

    def create_message(e: Event) -> tuple[Shape, Any, Any]:
        payload: dict[str, Any] = {"schedule": schedule_obj(e)}
        if gen is not None:
            payload["send_id"] = generated_send_id(gen, name)
        assert messages is not None  # noqa: S101
        payload["messages"] = messages(e)
        if audience is not None:
            payload["audience"] = audience(e)
        if segment is not None:
            payload["segment_id"] = identifier(segment(e), name, "segment_id")
        if recipient is not None:
            _, r = recipient(e)
            if "external_user_id" in r:
                payload["external_user_ids"] = [r["external_user_id"]]
            else:
                payload["user_aliases"] = [r["user_alias"]]
        else:
            payload["broadcast"] = True
        return shape, state_key(e), payload

    return create_message


def _create_trigger(
    rule: RuleSettings,
    where: str,
    path: str,
    base: dict[str, Any],
    targets: _CreateTargets,
    schedule_obj: Callable[[Event], dict[str, Any]],
    state_key: Callable[[Event], str],
) -> Builder:
    """POST /campaigns|canvas/trigger/schedule/create: one recipient with its properties, or
    a broadcast to the audience; the shared properties are request-level."""
    name = rule.name
    field, per_spec, shared_spec = props_spec(rule)
    per = compile_object(per_spec, f"{where}.{field}", name) if per_spec else None
    shared = compile_object(shared_spec, f"{where}.shared", name) if shared_spec else None
    shape = Shape.make("POST", path, base, None, 1, targets.pool, "schedule_create")
    gen = rule.campaign_id if rule.generate_send_id else None
    audience, recipient = targets.audience, targets.recipient

    def create(e: Event) -> tuple[Shape, Any, Any]:
        payload: dict[str, Any] = {"schedule": schedule_obj(e)}
        if gen is not None:
            payload["send_id"] = generated_send_id(gen, name)
        if audience is not None:  # alone: the broadcast's target; beside a recipient: a filter
            payload["audience"] = audience(e)
        if recipient is None:
            payload["broadcast"] = True
        else:
            _, r = recipient(e)
            if per is not None:
                p = per(e)
                if p:
                    check_size(p, field, name)
                    r[field] = p
            payload["broadcast"] = False
            payload["recipients"] = [r]
        if shared is not None:
            sp = shared(e)
            check_size(sp, f"shared {field}", name)
            payload[field] = sp
        return shape, state_key(e), payload

    return create
