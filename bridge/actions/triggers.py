"""``campaign_trigger`` and ``canvas_trigger``: POST /campaigns/trigger/send, /canvas/trigger/send.

Each matched event contributes one recipient object; recipients of the same campaign/Canvas
(and the same request-level fields) are batched up to 50 per request.
"""

from __future__ import annotations

from typing import Any

import orjson

from bridge.actions.base import DEFAULT_POOL, Builder, Shape
from bridge.errors import RuleError
from bridge.models import Event
from bridge.rules.mapping import compile_object, compile_value
from bridge.settings import RecipientSettings, RuleSettings

PROPERTIES_LIMIT = 50 * 1024  # bytes of trigger_properties / context (Braze: 50 KB)


def _identifier(value: Any, rule: str, what: str) -> str:
    if isinstance(value, str):
        if not value:
            raise RuleError(f"{what} is empty", rule=rule)
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # numeric ids become strings, as Braze expects
    raise RuleError(f"{what} must be a string, got {type(value).__name__}", rule=rule)


def compile_recipient(spec: RecipientSettings, rule: str, where: str) -> Any:
    """(event) -> (identity, recipient object without properties)."""
    attrs = (
        compile_object(spec.attributes, f"{where}.attributes", rule) if spec.attributes else None
    )
    steo = spec.send_to_existing_only
    if spec.external_user_id is not None:
        get = compile_value(spec.external_user_id, f"{where}.external_user_id", rule)

        def ext(e: Event) -> tuple[Any, dict[str, Any]]:
            uid = _identifier(get(e), rule, "external_user_id")
            r: dict[str, Any] = {"external_user_id": uid}
            return ("x", uid), r

        base = ext
    elif spec.user_alias is not None:
        name = compile_value(spec.user_alias["alias_name"], f"{where}.user_alias.alias_name", rule)
        label = compile_value(
            spec.user_alias["alias_label"], f"{where}.user_alias.alias_label", rule
        )

        def alias(e: Event) -> tuple[Any, dict[str, Any]]:
            n = _identifier(name(e), rule, "user_alias.alias_name")
            lb = _identifier(label(e), rule, "user_alias.alias_label")
            return ("a", n, lb), {"user_alias": {"alias_name": n, "alias_label": lb}}

        base = alias
    elif spec.email is not None:
        mail = compile_value(spec.email, f"{where}.email", rule)
        prio = list(spec.prioritization or [])

        def email(e: Event) -> tuple[Any, dict[str, Any]]:
            m = _identifier(mail(e), rule, "email")
            if "@" not in m:
                raise RuleError("email is not an email address", rule=rule)
            return ("e", m.lower()), {"email": m, "prioritization": prio}

        base = email
    else:
        bid = compile_value(spec.braze_id, f"{where}.braze_id", rule)

        def braze_id(e: Event) -> tuple[Any, dict[str, Any]]:
            b = _identifier(bid(e), rule, "braze_id")
            return ("b", b), {"braze_id": b}

        base = braze_id

    if attrs is None and steo is None:
        return base

    def full(e: Event) -> tuple[Any, dict[str, Any]]:
        identity, r = base(e)
        if attrs is not None:
            r["attributes"] = attrs(e)
        if steo is not None:
            r["send_to_existing_only"] = steo
        return identity, r

    return full


def compile_trigger(rule: RuleSettings, max_recipients: int, where: str) -> Builder:
    """Compile a campaign_trigger / canvas_trigger rule into a builder."""
    recipient = compile_recipient(rule.recipient, rule.name, f"{where}.recipient")
    if rule.action == "campaign_trigger":
        path = "/campaigns/trigger/send"
        base: dict[str, Any] = {"campaign_id": rule.campaign_id, "broadcast": False}
        if rule.send_id:
            base["send_id"] = rule.send_id
        props_spec = rule.trigger_properties
        props_field = "trigger_properties"
    else:
        path = "/canvas/trigger/send"
        base = {"canvas_id": rule.canvas_id, "broadcast": False}
        props_spec = rule.context
        props_field = rule.context_field
    shape = Shape.make("POST", path, base, "recipients", max_recipients, DEFAULT_POOL)
    props = compile_object(props_spec, f"{where}.{props_field}", rule.name) if props_spec else None
    name = rule.name

    if props is None:

        def bare(e: Event) -> tuple[Shape, Any, Any]:
            identity, r = recipient(e)
            return shape, identity, r

        return bare

    def build(e: Event) -> tuple[Shape, Any, Any]:
        identity, r = recipient(e)
        p = props(e)
        if p:
            size = len(orjson.dumps(p))
            if size > PROPERTIES_LIMIT:
                raise RuleError(
                    f"{props_field} is {size} bytes; Braze allows at most 50 KB",
                    rule=name,
                )
            r[props_field] = p
        return shape, identity, r

    return build
