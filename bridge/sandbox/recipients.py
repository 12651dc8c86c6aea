"""Recipients (§2.6) and targeting (§2.7) of the trigger endpoints.

The `recipients` array with its one identifier per entry, `prioritization` for email
recipients, `send_to_existing_only`/`attributes`, and `broadcast` versus users, audience
and segment (the team's Braze reference, shared/docs/braze-api.md).
"""

from __future__ import annotations

from typing import Any

from bridge.sandbox.fields import (
    MAX_PROPERTIES_BYTES,
    MAX_RECIPIENTS,
    MSG_NO_RECIPIENTS,
    MSG_TOO_MANY_ALIASES,
    Invalid,
    check_properties,
    check_user_alias,
    is_int_id,
    optional_bool,
    optional_object,
)

PRIORITIZATION_VALUES = frozenset(
    {"identified", "unidentified", "most_recently_updated", "least_recently_updated"}
)
IDENTIFIERS = ("external_user_id", "user_alias", "email", "braze_id")


def check_recipient(
    rec: Any, i: int, props_keys: tuple[str, ...], sizes: int | None = MAX_PROPERTIES_BYTES
) -> None:
    if not isinstance(rec, dict):
        raise Invalid(f"recipients[{i}] must be an object")
    present = [k for k in IDENTIFIERS if rec.get(k) is not None]
    if len(present) != 1:
        where = f"recipients[{i}]"
        if not present:
            raise Invalid(
                f"{where} must specify one of external_user_id, user_alias, email or braze_id"
            )
        raise Invalid(f"{where} must specify only one identifier, got {', '.join(present)}")
    ident = present[0]
    value = rec[ident]
    if ident == "user_alias":
        check_user_alias(value, f"recipients[{i}].user_alias")
    elif ident == "external_user_id" and is_int_id(value):
        pass  # edx-braze-client sends integers; Braze's docs say string (UNCONFIRMED)
    elif not isinstance(value, str) or not value:
        raise Invalid(f"recipients[{i}].{ident} must be a non-empty string")
    if ident == "email":
        check_prioritization(rec.get("prioritization"), f"recipients[{i}]")
    # prioritization on other identifiers: accepted and ignored, as Braze's docs only say it
    # is required with email (braze-api types it on every recipient)
    if "send_to_existing_only" in rec or "attributes" in rec:
        _check_existing_only(rec, ident, f"recipients[{i}]")
    for key in props_keys:
        if key in rec:
            check_properties(rec, key, f"recipients[{i}].", sizes)


def _check_existing_only(rec: dict[str, Any], ident: str, where: str) -> None:
    existing_only = optional_bool(rec, "send_to_existing_only", f"{where}.")
    attributes = optional_object(rec, "attributes", f"{where}.")
    if existing_only is False:
        if ident == "user_alias":
            raise Invalid(f"{where}: send_to_existing_only false is not allowed with user_alias")
        if attributes is None:
            raise Invalid(f"{where}: send_to_existing_only false requires an attributes object")


def check_prioritization(value: Any, where: str) -> None:
    if value is None:
        raise Invalid(f"{where}.prioritization is required when email is the identifier")
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise Invalid(f"{where}.prioritization must be a non-empty array of strings")
    bad = [v for v in value if v not in PRIORITIZATION_VALUES]
    if bad:
        raise Invalid(
            f"{where}.prioritization has invalid value {bad[0]!r}",
            "allowed: " + ", ".join(sorted(PRIORITIZATION_VALUES)),
        )
    if "identified" in value and "unidentified" in value:
        raise Invalid(f"{where}.prioritization may contain only one of identified/unidentified")


def check_recipients(
    body: dict[str, Any], props_keys: tuple[str, ...], sizes: int | None = MAX_PROPERTIES_BYTES
) -> int | None:
    """The `recipients` array; returns its length (None when absent)."""
    recipients = body.get("recipients")
    if recipients is None:
        return None
    if not isinstance(recipients, list):
        raise Invalid("recipients must be an array of recipient objects")
    if len(recipients) > MAX_RECIPIENTS:
        raise Invalid(
            MSG_TOO_MANY_ALIASES,
            f"{len(recipients)} recipients given; at most {MAX_RECIPIENTS} per request",
        )
    for i, rec in enumerate(recipients):
        check_recipient(rec, i, props_keys, sizes)
    return len(recipients)


def check_targeting(
    body: dict[str, Any],
    n_users: int | None,
    users_field: str,
    *,
    segment_ok: bool = False,
    audience_key: str = "audience",
    require_flag: bool = True,
) -> bool:
    """`broadcast` vs users/audience/segment (§2.7); returns whether this is a broadcast send.

    Braze: `broadcast` "must be set to true if recipients is omitted" - an audience or a
    segment alone is not enough (`require_flag=False` restores the old lenient reading).
    `segment_id` is a parameter of the `/messages/*` endpoints only (`segment_ok`); elsewhere
    it is ignored like any unknown field.
    """
    broadcast = optional_bool(body, "broadcast") or False
    has_users = bool(n_users)
    if broadcast and n_users is not None:
        raise Invalid(
            f"{users_field} cannot be combined with broadcast: true",
            f"set broadcast to false to send to specific users, or drop {users_field}",
        )
    has_audience = body.get(audience_key) is not None
    has_segment = segment_ok and body.get("segment_id") is not None
    if broadcast or has_users:
        return broadcast
    if not require_flag and (has_audience or has_segment):
        return False
    if has_audience or has_segment:
        what = audience_key if has_audience else "segment_id"
        raise Invalid(
            MSG_NO_RECIPIENTS,
            f"{what} without {users_field} needs broadcast: true",
        )
    raise Invalid(
        MSG_NO_RECIPIENTS,
        f"broadcast is false and no {users_field} or audience was given; "
        "set broadcast: true to send to the whole segment",
    )
