"""``campaign_trigger`` / ``canvas_trigger``: POST /campaigns/trigger/send, /canvas/trigger/send.

Each matched event contributes one recipient object; recipients of the same campaign/Canvas
and the same request-level fields (send_id, shared properties) are batched up to 50 per
request. Per-recipient ``trigger_properties``/``context`` win over the shared (top-level)
ones, as Braze documents. A rule with ``audience`` and no recipient (and
``allow_broadcast: true``) sends one broadcast-class request per event on the broadcast
rate-limit pool; beside a recipient, ``audience`` only filters the named users ("Including
'audience' will only send to users in the audience") and the request stays in the default pool.
``attachments`` (campaigns, email): ``[{file_name, url}]``, a request-level field.
"""

from __future__ import annotations

from typing import Any

from bridge.actions.base import BROADCAST_POOL, DEFAULT_POOL, Builder, Shape
from bridge.actions.common import RecipientFn, check_size, compile_recipient, generated_send_id
from bridge.errors import RuleError, RuleSpecError
from bridge.models import Event
from bridge.rules.mapping import Mapper, compile_object, compile_value, is_constant
from bridge.rules.spec import RuleSettings


def check_attachments(value: Any, rule: str) -> list[dict[str, Any]]:
    """Braze's attachments: an array of {file_name, url}, both non-empty strings."""
    if not isinstance(value, list):
        raise RuleError("attachments must be a list of {file_name, url}", rule=rule)
    for i, a in enumerate(value):
        if not isinstance(a, dict) or set(a) != {"file_name", "url"}:
            raise RuleError(f"attachments[{i}] must be exactly {{file_name, url}}", rule=rule)
        for k in ("file_name", "url"):
            if not isinstance(a[k], str) or not a[k]:
                raise RuleError(f"attachments[{i}].{k} must be a non-empty string", rule=rule)
    return value


def compile_attachments(rule: RuleSettings, where: str) -> tuple[Mapper | None, Any]:
    """(per-event fn, constant value) of a rule's attachments (both None without)."""
    if rule.attachments is None:
        return None, None
    if is_constant(rule.attachments):
        try:
            return None, check_attachments(rule.attachments, rule.name)
        except RuleError as exc:
            raise RuleSpecError(f"{where}.attachments", exc.args[0]) from exc
    get = compile_value(rule.attachments, f"{where}.attachments", rule.name)
    return (lambda e: check_attachments(get(e), rule.name)), None


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
    gen = rule.campaign_id if rule.generate_send_id else None
    if rule.audience is not None and rule.recipient is None:
        audience = compile_object(rule.audience, f"{where}.audience", name)
        return _broadcast(name, path, base, audience, field, shared, gen)
    if rule.recipient is None:
        # RuleSettings refuses this (whole-segment broadcasts are not supported); never assert.
        raise RuleSpecError(f"{where}.recipient", f"{rule.action} needs a recipient or an audience")
    recipient = compile_recipient(rule.recipient, name, f"{where}.recipient")
    base["broadcast"] = False
    filt = None
    if rule.audience is not None:  # a filter on the named users
        if is_constant(rule.audience):
            base["audience"] = rule.audience
        else:
            filt = compile_object(rule.audience, f"{where}.audience", name)
    attach_fn, attach_const = compile_attachments(rule, where)
    if attach_const is not None:
        base["attachments"] = attach_const
    return _to_recipients(
        name, path, base, max_recipients, recipient, field, per, shared, filt, attach_fn, gen
    )


def _broadcast(
    name: str,
    path: str,
    base: dict[str, Any],
    audience: Mapper,
    field: str,
    shared: Mapper | None,
    gen: str | None,
) -> Builder:
    """An audience without a recipient: one broadcast request per event (broadcast pool)."""

    def broadcast(e: Event) -> tuple[Shape, Any, Any]:
        body: dict[str, Any] = {**base, "broadcast": True, "audience": audience(e)}
        if gen is not None:
            body["send_id"] = generated_send_id(gen, name)
        if shared is not None:
            p = shared(e)
            check_size(p, field, name)
            body[field] = p
        shape = Shape.make("POST", path, body, None, 1, BROADCAST_POOL)
        return shape, None, {}

    return broadcast


def _to_recipients(
    name: str,
    path: str,
    base: dict[str, Any],
    max_recipients: int,
    recipient: RecipientFn,
    field: str,
    per: Mapper | None,
    shared: Mapper | None,
    filt: Mapper | None,
    attach_fn: Mapper | None,
    gen: str | None,
) -> Builder:
    """One recipient object per event, batched by request-level fields: a static shape when
    none of them comes from the event, otherwise one shape per distinct body."""
    per_event_shape = (
        shared is not None or filt is not None or attach_fn is not None or gen is not None
    )
    static_shape = Shape.make("POST", path, base, "recipients", max_recipients, DEFAULT_POOL)

    def build(e: Event) -> tuple[Shape, Any, Any]:
        identity, r = recipient(e)
        if per is not None:
            p = per(e)
            if p:
                check_size(p, field, name)
                r[field] = p
        if not per_event_shape:
            return static_shape, identity, r
        body = dict(base)
        if gen is not None:
            body["send_id"] = generated_send_id(gen, name)
        if shared is not None:
            sp = shared(e)
            check_size(sp, f"shared {field}", name)
            body[field] = sp
        if filt is not None:
            body["audience"] = filt(e)
        if attach_fn is not None:
            body["attachments"] = attach_fn(e)
        shape = Shape.make("POST", path, body, "recipients", max_recipients, DEFAULT_POOL)
        return shape, identity, r

    return build
