"""``message_send``: POST /messages/send with inline content from the config.

Braze Liquid in the content passes through untouched. Recipients go into
``external_user_ids`` (or ``user_aliases``), batched up to 50 per request while the content
(and every other request-level field) is identical. With ``audience`` and
``allow_broadcast: true`` the rule sends one broadcast-class request per event.
"""

from __future__ import annotations

from typing import Any

from bridge.actions.base import BROADCAST_POOL, DEFAULT_POOL, Builder, Shape
from bridge.actions.common import compile_recipient
from bridge.models import Event
from bridge.rules.mapping import compile_object, is_constant
from bridge.rules.spec import RuleSettings


def compile_message_send(rule: RuleSettings, max_recipients: int, where: str) -> Builder:
    name = rule.name
    assert rule.messages is not None  # noqa: S101 - validated
    messages = compile_object(rule.messages, f"{where}.messages", name)
    base: dict[str, Any] = {}
    if rule.campaign_id:
        base["campaign_id"] = rule.campaign_id
    if rule.send_id:
        base["send_id"] = rule.send_id
    if rule.override_frequency_capping is not None:
        base["override_frequency_capping"] = rule.override_frequency_capping
    if rule.recipient_subscription_state is not None:
        base["recipient_subscription_state"] = rule.recipient_subscription_state
    path = "/messages/send"
    if rule.audience is not None:
        audience = compile_object(rule.audience, f"{where}.audience", name)

        def broadcast(e: Event) -> tuple[Shape, Any, Any]:
            body = {**base, "broadcast": True, "audience": audience(e), "messages": messages(e)}
            return Shape.make("POST", path, body, None, 1, BROADCAST_POOL), None, {}

        return broadcast
    assert rule.recipient is not None  # noqa: S101 - validated
    recipient = compile_recipient(rule.recipient, name, f"{where}.recipient")
    alias = rule.recipient.user_alias is not None
    list_field = "user_aliases" if alias else "external_user_ids"
    static = is_constant(rule.messages)
    fixed = (
        Shape.make(
            "POST",
            path,
            {**base, "messages": rule.messages},
            list_field,
            max_recipients,
            DEFAULT_POOL,
        )
        if static
        else None
    )

    def build(e: Event) -> tuple[Shape, Any, Any]:
        identity, r = recipient(e)
        item = r["user_alias"] if alias else r["external_user_id"]
        shape = fixed or Shape.make(
            "POST",
            path,
            {**base, "messages": messages(e)},
            list_field,
            max_recipients,
            DEFAULT_POOL,
        )
        return shape, identity, item

    return build
