"""`/messages/send` and the checks of `/messages/*` bodies: user lists, subscription state,
messaging objects (§3.3, §3.5)."""

from __future__ import annotations

from typing import Any

import orjson

from bridge.braze_facts import ANDROID_PUSH_MAX, APPLE_PUSH_MAX, SEND_MESSAGE_KEYS
from bridge.sandbox import targets
from bridge.sandbox.audience import check_optional_audience
from bridge.sandbox.context import Ctx, Outcome
from bridge.sandbox.fields import (
    MAX_RECIPIENTS,
    MSG_TOO_MANY_ALIASES,
    MSG_TOO_MANY_IDS,
    Invalid,
    check_user_alias,
    is_int_id,
    optional_bool,
    optional_str,
)
from bridge.sandbox.recipients import check_targeting

SUBSCRIPTION_STATES = frozenset({"opted_in", "subscribed", "all"})


def check_user_lists(body: dict[str, Any]) -> int | None:
    """`external_user_ids` + `user_aliases`; returns the combined count (None if both absent)."""
    ext = body.get("external_user_ids")
    aliases = body.get("user_aliases")
    if ext is None and aliases is None:
        return None
    n_ext = n_alias = 0
    if ext is not None:
        if not isinstance(ext, list) or not all(
            (isinstance(x, str) and x) or is_int_id(x) for x in ext
        ):
            raise Invalid("external_user_ids must be an array of non-empty strings")
        n_ext = len(ext)
    if aliases is not None:
        if not isinstance(aliases, list):
            raise Invalid("user_aliases must be an array of user alias objects")
        for i, alias in enumerate(aliases):
            check_user_alias(alias, f"user_aliases[{i}]")
        n_alias = len(aliases)
    total = n_ext + n_alias
    if total > MAX_RECIPIENTS:
        detail = f"{n_ext} external_user_ids and {n_alias} user_aliases given; at most 50"
        raise Invalid(MSG_TOO_MANY_ALIASES if n_alias else MSG_TOO_MANY_IDS, detail)
    return total


def check_subscription_state(body: dict[str, Any]) -> None:
    state = body.get("recipient_subscription_state")
    if state is not None and (not isinstance(state, str) or state not in SUBSCRIPTION_STATES):
        raise Invalid("recipient_subscription_state must be one of opted_in, subscribed, all")


def check_messages(
    value: Any,
    allowed: frozenset[str],
    need_variation: bool,
    variations: dict[str, str | None] | None = None,
) -> None:
    """The messaging objects; Braze's documented 400 texts where they exist.

    `variations` (the `message_variations` fault for this campaign): the known
    message-variation ids, each with its channel (a messaging-object key) or None.
    """
    if value is None or value == {}:
        raise Invalid("No message to send", "messages must contain at least one messaging object")
    if not isinstance(value, dict):
        raise Invalid("messages must be an object")
    for key, obj in value.items():
        if key not in allowed:
            raise Invalid(
                f"messages.{key} is not a supported messaging object",
                "allowed: " + ", ".join(sorted(allowed)),
            )
        if not isinstance(obj, dict):
            raise Invalid(f"messages.{key} must be an object")
        if key in ("apple_push", "android_push"):
            _check_push(key, obj)
        variation = obj.get("message_variation_id")
        if need_variation and (not isinstance(variation, str) or not variation):
            raise Invalid(
                "Message Variant Unspecified",
                f"messages.{key}.message_variation_id is required when campaign_id is given",
            )
        if variations is not None and variation is not None:
            if not isinstance(variation, str) or variation not in variations:
                raise Invalid(
                    "Invalid Message Variant",
                    f"messages.{key}.message_variation_id {variation!r} is not a variation "
                    "of this campaign",
                )
            channel = variations[variation]
            if channel is not None and channel != key:
                raise Invalid(
                    "Mismatched Message Type",
                    f"message variation {variation!r} is a {channel} variation, not {key}",
                )


def _check_push(key: str, obj: dict[str, Any]) -> None:
    """An apple_push / android_push object: `extra` is an object, the JSON within Braze's
    documented length."""
    extra = obj.get("extra")
    if extra is not None and not isinstance(extra, dict):
        raise Invalid("Invalid Extra Push Payload", f"messages.{key}.extra must be an object")
    size = len(orjson.dumps(obj))
    if key == "apple_push" and size > APPLE_PUSH_MAX:
        raise Invalid("Apple Push Length Exceeded", f"{size} bytes > {APPLE_PUSH_MAX}")
    if key == "android_push" and size > ANDROID_PUSH_MAX:
        raise Invalid("Android Push Length Exceeded", f"{size} bytes > {ANDROID_PUSH_MAX}")


def check_flags(body: dict[str, Any], *keys: str) -> None:
    for key in keys:
        optional_bool(body, key)


def check_messages_targeting(ctx: Ctx, body: dict[str, Any]) -> tuple[int | None, bool]:
    """Segment, subscription state, user lists, audience and `broadcast` of a `/messages/*`
    body; returns (user count or None, whether it is a broadcast)."""
    optional_str(body, "segment_id")
    check_subscription_state(body)
    n = check_user_lists(body)
    check_optional_audience(body)
    broadcast = check_targeting(
        body,
        n,
        "external_user_ids/user_aliases",
        segment_ok=True,
        require_flag=ctx.opts.require_broadcast_flag,
    )
    return n, broadcast


def messages_send(ctx: Ctx, body: dict[str, Any], _q: dict[str, str]) -> Outcome:
    cid = targets.campaign_id(ctx, body, required=False)
    send_id = targets.send_id(ctx, body, cid)
    check_flags(body, "override_frequency_capping")
    n, broadcast = check_messages_targeting(ctx, body)
    check_messages(body.get("messages"), SEND_MESSAGE_KEYS, cid is not None, ctx.variations(cid))
    out: dict[str, Any] = {"dispatch_id": ctx.dispatch_id(), "message": "success"}
    if broadcast and cid is not None:  # API campaigns sent as a broadcast are tracked (§2.4)
        out["send_id"] = send_id or ctx.state.ids.hex(8)
    return Outcome(out, n or 0)
