"""``campaign_trigger`` / ``canvas_trigger``: POST /campaigns/trigger/send, /canvas/trigger/send.

Each matched event contributes one recipient object; recipients of the same campaign/Canvas
and the same request-level fields (send_id, shared properties) are batched up to 50 per
request. Per-recipient ``trigger_properties``/``context`` win over the shared (top-level)
ones, as Braze documents. A rule with ``audience`` (and ``allow_broadcast: true``) sends one
broadcast-class request per event on the broadcast rate-limit pool.
"""

from __future__ import annotations

from typing import Any

from bridge.actions.base import BROADCAST_POOL, DEFAULT_POOL, Builder, Shape
from bridge.actions.common import check_size, compile_recipient
from bridge.models import Event
from bridge.rules.mapping import compile_object
from bridge.rules.spec import RuleSettings


def props_spec(rule: RuleSettings) -> tuple[str, dict[str, Any] | None, dict[str, Any] | None]:
    """(field name, per-recipient spec, shared spec) of a campaign or Canvas rule."""
    if rule.campaign_id is not None and rule.canvas_id is None:
        return "trigger_properties", rule.trigger_properties, rule.shared_trigger_properties
    return rule.context_field, rule.context, rule.shared_context


def target_fields(rule: RuleSettings) -> dict[str, Any]:
    if rule.canvas_id is not None:
        return {"canvas_id": rule.canvas_id}
    base: dict[str, Any] = {"campaign_id": rule.campaign_id}
    if rule.send_id:
        base["send_id"] = rule.send_id
    return base


def compile_trigger(rule: RuleSettings, max_recipients: int, where: str) -> Builder:
    name = rule.name
    path = "/canvas/trigger/send" if rule.canvas_id else "/campaigns/trigger/send"
    field, per_spec, shared_spec = props_spec(rule)
    per = compile_object(per_spec, f"{where}.{field}", name) if per_spec else None
    shared = (
        compile_object(shared_spec, f"{where}.shared_{field.replace('canvas_entry_', '')}", name)
        if shared_spec
        else None
    )
    base = target_fields(rule)

    if rule.audience is not None:
        audience = compile_object(rule.audience, f"{where}.audience", name)

        def broadcast(e: Event) -> tuple[Shape, Any, Any]:
            body: dict[str, Any] = {**base, "broadcast": True, "audience": audience(e)}
            if shared is not None:
                p = shared(e)
                check_size(p, field, name)
                body[field] = p
            shape = Shape.make("POST", path, body, None, 1, BROADCAST_POOL)
            return shape, None, {}

        return broadcast

    assert rule.recipient is not None  # noqa: S101 - guaranteed by RuleSettings validation
    recipient = compile_recipient(rule.recipient, name, f"{where}.recipient")
    base["broadcast"] = False
    static_shape = Shape.make("POST", path, base, "recipients", max_recipients, DEFAULT_POOL)

    def build(e: Event) -> tuple[Shape, Any, Any]:
        identity, r = recipient(e)
        if per is not None:
            p = per(e)
            if p:
                check_size(p, field, name)
                r[field] = p
        shape = static_shape
        if shared is not None:
            sp = shared(e)
            check_size(sp, f"shared {field}", name)
            shape = Shape.make(
                "POST", path, {**base, field: sp}, "recipients", max_recipients, DEFAULT_POOL
            )
        return shape, identity, r

    return build
