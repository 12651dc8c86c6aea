"""``message_send``: POST /messages/send with inline content from the config.

Braze Liquid in the content passes through untouched. Recipients go into
``external_user_ids`` (or ``user_aliases``), batched up to 50 per request while the content
(and every other request-level field) is identical; with ``choose: first_present`` an event's
recipient goes into the list of the identifier it has. ``audience`` and ``segment_id`` beside
a recipient only filter the named users (default pool). Without a recipient they make a
broadcast (``allow_broadcast: true``): one broadcast-class request per event.

Content Braze would refuse for every recipient (``message_variation_id`` missing while
``campaign_id`` is set, a push payload over Braze's limits, ``extra`` not an object) fails
``check`` when it is constant and is dead-lettered before sending when it comes from the event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bridge.actions.base import BROADCAST_POOL, DEFAULT_POOL, Builder, Shape
from bridge.actions.common import (
    RecipientFn,
    check_messages_config,
    check_messages_event,
    compile_recipient,
    generated_send_id,
    identifier,
)
from bridge.models import Event
from bridge.rules.mapping import Mapper, compile_object, compile_value, is_constant
from bridge.rules.spec import RuleSettings

PATH = "/messages/send"


def compile_targeting(
    rule: RuleSettings, where: str
) -> tuple[Mapper | None, Mapper | None, dict[str, Any]]:
    """(audience fn, segment_id fn, constant part) of a rule's audience/segment_id."""
    name = rule.name
    audience = compile_object(rule.audience, f"{where}.audience", name) if rule.audience else None
    segment = (
        compile_value(rule.segment_id, f"{where}.segment_id", name)
        if rule.segment_id is not None
        else None
    )
    const: dict[str, Any] = {}
    if rule.audience is not None and is_constant(rule.audience):
        const["audience"] = rule.audience
        audience = None
    if rule.segment_id is not None and is_constant(rule.segment_id):
        const["segment_id"] = rule.segment_id
        segment = None
    return audience, segment, const


def targeting_fields(
    audience: Mapper | None, segment: Mapper | None, const: dict[str, Any], e: Event, rule: str
) -> dict[str, Any]:
    out = dict(const)
    if audience is not None:
        out["audience"] = audience(e)
    if segment is not None:
        out["segment_id"] = identifier(segment(e), rule, "segment_id")
    return out


def compile_message_send(rule: RuleSettings, max_recipients: int, where: str) -> Builder:
    name = rule.name
    assert rule.messages is not None  # noqa: S101 - validated
    static = is_constant(rule.messages)
    need_variation = bool(rule.campaign_id)
    check_messages_config(rule.messages, need_variation, where, static)
    messages = compile_checked_messages(rule.messages, need_variation, where, name)
    base = _request_fields(rule)
    gen = rule.campaign_id if rule.generate_send_id else None
    audience, segment, const = compile_targeting(rule, where)
    if rule.recipient is None:

        def broadcast(e: Event) -> tuple[Shape, Any, Any]:
            body = {
                **base,
                **({"send_id": generated_send_id(gen, name)} if gen is not None else {}),
                "broadcast": True,
                **targeting_fields(audience, segment, const, e, name),
                "messages": messages(e),
            }
            return Shape.make("POST", PATH, body, None, 1, BROADCAST_POOL), None, {}

        return broadcast
    recipient = compile_recipient(rule.recipient, name, f"{where}.recipient")
    base.update(const)  # a constant filter on the named users
    return _to_recipients(rule, max_recipients, base, recipient, messages, audience, segment, gen)


def compile_checked_messages(
    spec: dict[str, Any], need_variation: bool, where: str, rule: str
) -> Callable[[Event], dict[str, Any]]:
    """(event) -> the messaging objects, checked as Braze would before sending (a problem
    fails the event)."""
    compiled = compile_object(spec, f"{where}.messages", rule)

    def messages(e: Event) -> dict[str, Any]:
        m = compiled(e)
        check_messages_event(m, need_variation, rule)
        return m

    return messages


def _request_fields(rule: RuleSettings) -> dict[str, Any]:
    """The rule's constant request-level fields of /messages/send."""
    base: dict[str, Any] = {}
    if rule.campaign_id:
        base["campaign_id"] = rule.campaign_id
    if rule.send_id:
        base["send_id"] = rule.send_id
    if rule.override_frequency_capping is not None:
        base["override_frequency_capping"] = rule.override_frequency_capping
    if rule.recipient_subscription_state is not None:
        base["recipient_subscription_state"] = rule.recipient_subscription_state
    return base


def _to_recipients(
    rule: RuleSettings,
    max_recipients: int,
    base: dict[str, Any],
    recipient: RecipientFn,
    messages: Callable[[Event], dict[str, Any]],
    audience: Mapper | None,
    segment: Mapper | None,
    gen: str | None,
) -> Builder:
    """Each event's recipient joins the list of its identifier (external_user_ids or
    user_aliases); with constant content and targeting the two shapes are built once."""
    name = rule.name
    static = is_constant(rule.messages)
    constant_messages = rule.messages
    fixed: dict[str, Shape] = {}
    if static and audience is None and segment is None and gen is None:
        for lf in ("external_user_ids", "user_aliases"):
            fixed[lf] = Shape.make(
                "POST",
                PATH,
                {**base, "messages": constant_messages},
                lf,
                max_recipients,
                DEFAULT_POOL,
            )

    def build(e: Event) -> tuple[Shape, Any, Any]:
        identity, r = recipient(e)
        if "user_alias" in r:
            list_field, item = "user_aliases", r["user_alias"]
        else:
            list_field, item = "external_user_ids", r["external_user_id"]
        shape = fixed.get(list_field)
        if shape is None:
            body = {**base, **targeting_fields(audience, segment, {}, e, name)}
            if gen is not None:
                body["send_id"] = generated_send_id(gen, name)
            body["messages"] = constant_messages if static else messages(e)
            shape = Shape.make("POST", PATH, body, list_field, max_recipients, DEFAULT_POOL)
        return shape, identity, item

    return build
