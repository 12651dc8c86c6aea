"""Pieces shared by actions: recipients, identifiers, property-size limits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from bridge.errors import RuleError
from bridge.models import Event
from bridge.rules.mapping import compile_object, compile_value
from bridge.rules.spec import RecipientSettings

PROPERTIES_LIMIT = 50 * 1024  # bytes of trigger_properties / context (Braze: 50 KB)
BODY_LIMIT = 4 * 1024 * 1024  # bytes of a request body (Braze: 4 MB)

RecipientFn = Callable[[Event], tuple[Any, dict[str, Any]]]


def identifier(value: Any, rule: str, what: str) -> str:
    if isinstance(value, str):
        if not value:
            raise RuleError(f"{what} is empty", rule=rule)
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # numeric ids become strings, as Braze expects
    raise RuleError(f"{what} must be a string, got {type(value).__name__}", rule=rule)


def check_size(obj: Any, what: str, rule: str, limit: int = PROPERTIES_LIMIT) -> None:
    size = len(orjson.dumps(obj))
    if size > limit:
        raise RuleError(
            f"{what} is {size} bytes; Braze allows at most {limit // 1024} KB", rule=rule
        )


def compile_recipient(spec: RecipientSettings, rule: str, where: str) -> RecipientFn:
    """(event) -> (identity, recipient object without properties)."""
    attrs = (
        compile_object(spec.attributes, f"{where}.attributes", rule) if spec.attributes else None
    )
    steo = spec.send_to_existing_only
    base: RecipientFn
    if spec.external_user_id is not None:
        get = compile_value(spec.external_user_id, f"{where}.external_user_id", rule)

        def ext(e: Event) -> tuple[Any, dict[str, Any]]:
            uid = identifier(get(e), rule, "external_user_id")
            return ("x", uid), {"external_user_id": uid}

        base = ext
    elif spec.user_alias is not None:
        ua = spec.user_alias
        name = compile_value(ua["alias_name"], f"{where}.user_alias.alias_name", rule)
        label = compile_value(ua["alias_label"], f"{where}.user_alias.alias_label", rule)

        def alias(e: Event) -> tuple[Any, dict[str, Any]]:
            n = identifier(name(e), rule, "user_alias.alias_name")
            lb = identifier(label(e), rule, "user_alias.alias_label")
            return ("a", n, lb), {"user_alias": {"alias_name": n, "alias_label": lb}}

        base = alias
    elif spec.email is not None:
        mail = compile_value(spec.email, f"{where}.email", rule)
        prio = list(spec.prioritization or [])

        def email(e: Event) -> tuple[Any, dict[str, Any]]:
            m = identifier(mail(e), rule, "email")
            if "@" not in m:
                raise RuleError("email is not an email address", rule=rule)
            return ("e", m.lower()), {"email": m, "prioritization": prio}

        base = email
    else:
        bid = compile_value(spec.braze_id, f"{where}.braze_id", rule)

        def braze_id(e: Event) -> tuple[Any, dict[str, Any]]:
            b = identifier(bid(e), rule, "braze_id")
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
