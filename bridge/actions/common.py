"""Pieces shared by actions: recipients, identifiers, property-size limits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from bridge.errors import RuleError
from bridge.models import Event
from bridge.rules.mapping import compile_object, compile_value
from bridge.rules.spec import RecipientSettings

# Braze says "50 KB" and "4 MB" without saying whether K/M are 1000 or 1024: the bridge uses the
# stricter decimal reading so that nothing it sends can be over either.
PROPERTIES_LIMIT = 50_000  # bytes of trigger_properties / context (Braze: 50 KB)
BODY_LIMIT = 4_000_000  # bytes of a request body (Braze: 4 MB)
# Braze's documented push limits ("Apple Push Length Exceeded": more than 1,912 bytes;
# "Android Push Length Exceeded": more than 4,000 bytes), measured on the object's JSON.
PUSH_LIMITS = {"apple_push": 1912, "android_push": 4000}
# The messaging objects Braze documents for /messages/send; /messages/schedule/* lack whats_app.
SEND_MESSAGE_KEYS = frozenset(
    {
        "android_push",
        "apple_push",
        "content_card",
        "email",
        "kindle_push",
        "web_push",
        "webhook",
        "whats_app",
        "sms",
    }
)
SCHEDULE_MESSAGE_KEYS = SEND_MESSAGE_KEYS - {"whats_app"}

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
            f"{what} is {size} bytes; Braze allows at most {limit // 1000} KB", rule=rule
        )


def message_problems(messages: Any, need_variation: bool) -> list[tuple[str, str]]:
    """(key, reason) for each messaging object Braze would refuse with a fatal 400.

    ``need_variation``: the request names a ``campaign_id``, so every message object needs a
    ``message_variation_id`` ("Message Variant Unspecified"). Objects that are not (yet)
    dicts, e.g. field references before an event, are skipped.
    """
    out: list[tuple[str, str]] = []
    if not isinstance(messages, dict):
        return out
    for key, obj in messages.items():
        if not isinstance(obj, dict):
            continue
        if need_variation and not obj.get("message_variation_id"):
            out.append(
                (
                    key,
                    "needs message_variation_id because the rule has campaign_id "
                    "(Braze: 400 Message Variant Unspecified)",
                )
            )
        if key in PUSH_LIMITS:
            extra = obj.get("extra")
            if extra is not None and not isinstance(extra, dict) and not _is_ref(extra):
                out.append((key, "extra must be an object (Braze: 400 Invalid Extra Push Payload)"))
            size = len(orjson.dumps(obj))
            if size > PUSH_LIMITS[key]:
                what = "Apple" if key == "apple_push" else "Android"
                out.append(
                    (
                        key,
                        f"is {size} bytes; Braze allows at most {PUSH_LIMITS[key]} "
                        f"(400 {what} Push Length Exceeded)",
                    )
                )
    return out


def _is_ref(v: Any) -> bool:
    return isinstance(v, str) and v.startswith("$") or isinstance(v, dict) and "path" in v


def check_messages_config(
    messages: Any,
    need_variation: bool,
    where: str,
    static: bool,
    allowed: frozenset[str] = SEND_MESSAGE_KEYS,
) -> None:
    """Config-time check (raises ValueError naming the field): the messaging object names,
    variation ids and a constant non-object ``extra`` always; the push limits only where the
    whole content is constant."""
    if isinstance(messages, dict):
        for key in messages:
            if key not in allowed:
                raise ValueError(
                    f"{where}.messages.{key}: not a messaging object of this endpoint "
                    f"(Braze documents: {', '.join(sorted(allowed))})"
                )
    for key, reason in message_problems(messages, need_variation):
        if "Push Length" not in reason or static:
            raise ValueError(f"{where}.messages.{key}: {reason}")


def check_messages_event(messages: Any, need_variation: bool, rule: str) -> None:
    """Pre-send check of content built from an event (raises RuleError: dead letter)."""
    problems = message_problems(messages, need_variation)
    if problems:
        key, reason = problems[0]
        raise RuleError(f"messages.{key} {reason}", rule=rule)


def compile_recipient(spec: RecipientSettings, rule: str, where: str) -> RecipientFn:
    """(event) -> (identity, recipient object without properties).

    With ``choose: first_present`` the first identifier present in the event (not missing,
    null or empty) is used, in the order external_user_id, user_alias, email, braze_id.
    """
    attrs = (
        compile_object(spec.attributes, f"{where}.attributes", rule) if spec.attributes else None
    )
    steo = spec.send_to_existing_only
    # Each identifier: (event) -> raw value(s), and raw -> (identity, recipient object).
    kinds: list[tuple[str, Callable[[Event], Any], Callable[[Any], tuple[Any, dict[str, Any]]]]]
    kinds = []
    if spec.external_user_id is not None:
        get = compile_value(spec.external_user_id, f"{where}.external_user_id", rule)

        def ext(v: Any) -> tuple[Any, dict[str, Any]]:
            uid = identifier(v, rule, "external_user_id")
            return ("x", uid), {"external_user_id": uid}

        kinds.append(("external_user_id", get, ext))
    if spec.user_alias is not None:
        ua = spec.user_alias
        name = compile_value(ua["alias_name"], f"{where}.user_alias.alias_name", rule)
        label = compile_value(ua["alias_label"], f"{where}.user_alias.alias_label", rule)

        def get_alias(e: Event) -> Any:
            n = name(e)
            return None if n is None or n == "" else (n, label(e))

        def get_alias_strict(e: Event) -> Any:
            return (name(e), label(e))

        def alias(v: Any) -> tuple[Any, dict[str, Any]]:
            n = identifier(v[0], rule, "user_alias.alias_name")
            lb = identifier(v[1], rule, "user_alias.alias_label")
            return ("a", n, lb), {"user_alias": {"alias_name": n, "alias_label": lb}}

        kinds.append(
            (
                "user_alias",
                get_alias if spec.choose == "first_present" else get_alias_strict,
                alias,
            )
        )
    if spec.email is not None:
        mail = compile_value(spec.email, f"{where}.email", rule)
        prio = list(spec.prioritization or [])

        def email(v: Any) -> tuple[Any, dict[str, Any]]:
            m = identifier(v, rule, "email")
            if "@" not in m:
                raise RuleError("email is not an email address", rule=rule)
            return ("e", m.lower()), {"email": m, "prioritization": prio}

        kinds.append(("email", mail, email))
    if spec.braze_id is not None:
        bid = compile_value(spec.braze_id, f"{where}.braze_id", rule)

        def braze_id(v: Any) -> tuple[Any, dict[str, Any]]:
            b = identifier(v, rule, "braze_id")
            return ("b", b), {"braze_id": b}

        kinds.append(("braze_id", bid, braze_id))

    base: RecipientFn
    if spec.choose == "first_present":
        names = ", ".join(k for k, _, _ in kinds)

        def first_present(e: Event) -> tuple[Any, dict[str, Any]]:
            for _, get_v, make in kinds:
                try:
                    v = get_v(e)
                except RuleError:
                    continue  # a required reference that is missing: not present
                if v is None or v == "":
                    continue
                return make(v)
            raise RuleError(f"none of the recipient identifiers ({names}) is present", rule=rule)

        base = first_present
    else:
        _, get_one, make_one = kinds[0]

        def one(e: Event) -> tuple[Any, dict[str, Any]]:
            return make_one(get_one(e))

        base = one

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
