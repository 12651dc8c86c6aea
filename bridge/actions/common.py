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
    if isinstance(value, float) and value.is_integer() and abs(value) >= 2**53:
        raise RuleError(
            f"{what} must be a string, got a number too large to keep exactly "
            "(integers beyond 64 bits are read as floats; send ids as strings)",
            rule=rule,
        )
    raise RuleError(f"{what} must be a string, got {type(value).__name__}", rule=rule)


def check_size(obj: Any, what: str, rule: str, limit: int = PROPERTIES_LIMIT) -> None:
    try:
        size = len(orjson.dumps(obj))
    except TypeError:
        ensure_serialisable(obj, what, rule)
        raise
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


JSON_DEPTH_LIMIT = 254  # orjson writes at most this many nested arrays/objects
_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1  # orjson writes signed and unsigned 64-bit integers


def _unserialisable(obj: Any, depth0: int) -> tuple[str, str]:
    """(path, reason) of the first value orjson cannot write (iterative: no recursion limit)."""
    stack: list[tuple[Any, str, int]] = [(obj, "", depth0)]
    while stack:
        v, where, depth = stack.pop()
        if isinstance(v, dict | list):
            if depth >= JSON_DEPTH_LIMIT:
                return where or "$", f"nested deeper than {JSON_DEPTH_LIMIT} levels"
            if isinstance(v, dict):
                for k, x in v.items():
                    if not isinstance(k, str):
                        return where or "$", f"key {type(k).__name__} is not a string"
                    stack.append((x, f"{where}.{k}", depth + 1))
            else:
                stack.extend((x, f"{where}[{i}]", depth + 1) for i, x in enumerate(v))
        elif isinstance(v, int) and not isinstance(v, bool):
            if not _INT_MIN <= v <= _INT_MAX:
                return where or "$", (
                    f"integer with {len(str(abs(v)))} digits is outside the 64-bit range "
                    "Braze accepts"
                )
        elif not (v is None or isinstance(v, str | float | bool)):
            return where or "$", f"{type(v).__name__} is not a JSON value"
    return "$", "cannot be written as JSON"


def ensure_serialisable(obj: Any, what: str, rule: str, depth: int = 0) -> None:
    """Raise RuleError naming the field when ``obj`` cannot be written as a request's JSON.

    Run per item before it joins a batch, so one event's unserialisable value (an integer
    beyond 64 bits, nesting past orjson's depth limit) dead-letters that event only.
    ``depth`` is how many arrays/objects of the request body enclose ``obj``.
    """
    wrapped = obj
    for _ in range(depth):
        wrapped = [wrapped]
    try:
        orjson.dumps(wrapped)
    except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
        where, reason = _unserialisable(obj, depth)
        if len(where) > 80:
            where = where[:80] + "..."
        raise RuleError(f"{what}{where.lstrip('$')}: {reason}", rule=rule, path=where) from exc
