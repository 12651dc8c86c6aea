"""Validation of the objects shared by Braze's messaging endpoints.

Recipients (§2.6), targeting (§2.7), connected audience (§2.8), trigger_properties/context
size (§2.9/2.10), identifiers (§2.11) and the schedule object (§2.14) of the team's Braze reference
(shared/docs/braze-api.md, kept outside this repository).
Each check raises `Invalid`; the HTTP layer turns it into a 400 with Braze's body shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

MAX_RECIPIENTS = 50
MAX_PROPERTIES_BYTES = 50 * 1024
MAX_SEND_ID_CHARS = 64
# Re-serializing parsed JSON grows it by at most 4.5x (a number like `1e15` becomes
# `1000000000000000.0`), so a body below limit / 4.5 bytes cannot hold an object over it.
SIZE_GROWTH = 4.5
# in_local_time: the latest time zone is UTC-12, so a wall-clock time has passed
# "in all time zones" once it is more than 12 h behind UTC.
LATEST_ZONE_OFFSET = timedelta(hours=12)
# ...and the earliest is UTC+14: a wall-clock time is first reached 14 h before UTC.
EARLIEST_ZONE_OFFSET = timedelta(hours=14)

MSG_TOO_MANY_ALIASES = "The max number of external_ids and aliases per request was exceeded"
MSG_TOO_MANY_IDS = "The max number of ids per request was exceeded"
MSG_NO_RECIPIENTS = "No Recipients"
MSG_BAD_REQUEST = "Bad Request"

PRIORITIZATION_VALUES = frozenset(
    {"identified", "unidentified", "most_recently_updated", "least_recently_updated"}
)
IDENTIFIERS = ("external_user_id", "user_alias", "email", "braze_id")


class Invalid(Exception):
    """A request Braze would reject; `body()` is the response body."""

    def __init__(self, message: str, *errors: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.errors = list(errors)
        self.status = status

    def body(self) -> dict[str, Any]:
        if self.errors:
            return {"message": self.message, "errors": self.errors}
        return {"message": self.message}


def bad_request(detail: str) -> Invalid:
    """Braze's documented generic `400 Bad Request`, with the reason in `errors`."""
    return Invalid(MSG_BAD_REQUEST, detail)


# ---------------------------------------------------------------- primitives


def require_str(body: dict[str, Any], key: str, where: str = "") -> str:
    value = body.get(key)
    if value is None:
        raise Invalid(f"{where}{key} is required")
    if not isinstance(value, str) or not value:
        raise Invalid(f"{where}{key} must be a non-empty string")
    return value


def optional_str(body: dict[str, Any], key: str, where: str = "") -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise Invalid(f"{where}{key} must be a non-empty string")
    return value


def optional_bool(body: dict[str, Any], key: str, where: str = "") -> bool | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise Invalid(f"{where}{key} must be a boolean")
    return value


def optional_object(body: dict[str, Any], key: str, where: str = "") -> dict[str, Any] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise Invalid(f"{where}{key} must be an object")
    return value


def check_send_id(body: dict[str, Any]) -> str | None:
    send_id = body.get("send_id")
    if send_id is None:
        return None
    if not isinstance(send_id, str) or not send_id:
        raise Invalid("send_id must be a non-empty string")
    if not send_id.isascii():
        raise Invalid("send_id must contain only ASCII characters")
    if len(send_id) > MAX_SEND_ID_CHARS:
        raise Invalid(f"send_id must be at most {MAX_SEND_ID_CHARS} characters")
    return send_id


def check_properties(
    obj: dict[str, Any], key: str, where: str = "", sizes: int | None = MAX_PROPERTIES_BYTES
) -> None:
    """`trigger_properties` / `context` / `canvas_entry_properties`: an object of ≤ 50 KB.

    `sizes` is the size limit in bytes; None skips the size check. Callers pass None when the
    whole request body is under limit / 4.5 bytes, too small for any object in it to reach it.
    """
    value = obj.get(key)
    if value is None:
        return
    if not isinstance(value, dict):
        raise Invalid(f"{where}{key} must be an object")
    if sizes is None:
        return
    size = len(orjson.dumps(value))
    if size > sizes:
        raise Invalid(
            f"{where}{key} exceeds the maximum size of 50 KB",
            f"{where}{key} is {size} bytes serialized; the limit is {sizes}",
        )


def parse_iso(value: Any) -> datetime | None:
    """An ISO-8601 datetime (or date) string, else None."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def as_utc(dt: datetime) -> datetime:
    """Aware UTC datetime; naive values are taken as UTC."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def is_int_id(value: Any) -> bool:
    """An integer user id (not a bool), accepted where Braze documents a string."""
    return isinstance(value, int) and not isinstance(value, bool)


def check_user_alias(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise Invalid(f"{where} must be a user alias object {{alias_name, alias_label}}")
    for key in ("alias_name", "alias_label"):
        v = value.get(key)
        if not isinstance(v, str) or not v:
            raise Invalid(f"{where}.{key} is required and must be a non-empty string")


# ---------------------------------------------------------------- recipients


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


# ---------------------------------------------------------------- connected audience

_STRING_CMP = {"equals", "not_equal", "matches_regex", "does_not_match_regex"}
_ARRAY_CMP = {"includes_value", "does_not_include_value"}
_NUMERIC_CMP = {
    "greater_than",
    "greater_than_or_equal_to",
    "less_than",
    "less_than_or_equal_to",
}
_BOOL_CMP = {"does_not_equal"}
_DAYS_CMP = {
    "less_than_x_days_ago",
    "greater_than_x_days_ago",
    "less_than_x_days_in_the_future",
    "greater_than_x_days_in_the_future",
}
_TIME_CMP = {"after", "before"}
_EXISTS = {"exists", "does_not_exist"}
CUSTOM_ATTRIBUTE_CMP = (
    _STRING_CMP | _ARRAY_CMP | _NUMERIC_CMP | _BOOL_CMP | _DAYS_CMP | _TIME_CMP | _EXISTS
)
SUBSCRIPTION_VALUES = frozenset({"opted_in", "subscribed", "unsubscribed"})
FILTER_KINDS = (
    "custom_attribute",
    "push_subscription_status",
    "email_subscription_status",
    "last_used_app",
)
MAX_AUDIENCE_DEPTH = 32


def check_audience(value: Any, where: str = "audience", depth: int = 0) -> None:
    if depth > MAX_AUDIENCE_DEPTH:
        raise Invalid(f"{where}: connected audience nested too deeply")
    if not isinstance(value, dict) or len(value) != 1:
        raise Invalid(
            f"{where} must be an object with exactly one key: AND, OR or a filter "
            f"({', '.join(FILTER_KINDS)})"
        )
    ((key, inner),) = value.items()
    if key in ("AND", "OR"):
        if not isinstance(inner, list) or not inner:
            raise Invalid(f"{where}.{key} must be a non-empty array")
        for i, item in enumerate(inner):
            check_audience(item, f"{where}.{key}[{i}]", depth + 1)
        return
    if key not in FILTER_KINDS:
        raise Invalid(f"{where}: unknown connected audience filter {key!r}")
    if not isinstance(inner, dict):
        raise Invalid(f"{where}.{key} must be an object")
    _check_filter(key, inner, f"{where}.{key}")


def _check_filter(kind: str, f: dict[str, Any], where: str) -> None:
    cmp = f.get("comparison")
    if not isinstance(cmp, str):
        raise Invalid(f"{where}.comparison is required")
    value = f.get("value")
    if kind == "custom_attribute":
        name = f.get("custom_attribute_name")
        if not isinstance(name, str) or not name:
            raise Invalid(f"{where}.custom_attribute_name is required")
        if cmp not in CUSTOM_ATTRIBUTE_CMP:
            raise Invalid(f"{where}.comparison {cmp!r} is not a valid comparison")
        if cmp in _EXISTS:
            return
        if value is None:
            raise Invalid(f"{where}.value is required for comparison {cmp!r}")
        if isinstance(value, dict | list):
            raise Invalid(f"{where}.value must be a string, number or boolean")
        if cmp in _TIME_CMP and parse_iso(value) is None:
            raise Invalid(f"{where}.value must be an ISO-8601 datetime for {cmp!r}")
        if cmp in ("matches_regex", "does_not_match_regex") and not isinstance(value, str):
            raise Invalid(f"{where}.value must be a string for {cmp!r}")
        if (cmp in _DAYS_CMP or cmp in _NUMERIC_CMP) and (
            isinstance(value, bool) or not isinstance(value, int | float)
        ):
            raise Invalid(f"{where}.value must be a number for {cmp!r}")
    elif kind == "last_used_app":
        if cmp not in _TIME_CMP:
            raise Invalid(f"{where}.comparison must be 'after' or 'before'")
        if parse_iso(value) is None:
            raise Invalid(f"{where}.value must be an ISO-8601 datetime")
    else:
        if cmp not in ("is", "is_not"):
            raise Invalid(f"{where}.comparison must be 'is' or 'is_not'")
        if value not in SUBSCRIPTION_VALUES:
            raise Invalid(f"{where}.value must be one of opted_in, subscribed, unsubscribed")


# ---------------------------------------------------------------- schedule object


@dataclass(frozen=True, slots=True)
class Schedule:
    time: str
    next_send_utc: datetime  # aware UTC; local/optimal wall times are taken as UTC
    in_local_time: bool
    at_optimal_time: bool

    def schedule_type(self, company_time_zone: str) -> str:
        if self.in_local_time:
            return "local_time_zones"
        if self.at_optimal_time:
            return "intelligent_delivery"
        return company_time_zone

    def next_send_time(self) -> str:
        if self.in_local_time or self.at_optimal_time:
            return self.next_send_utc.replace(tzinfo=None).isoformat()
        return self.next_send_utc.isoformat()


@dataclass(frozen=True, slots=True)
class ScheduleRules:
    """The unconfirmed schedule-object readings (options of the sandbox)."""

    both_flags_ok: bool = True  # Braze's own example sets in_local_time and at_optimal_time
    local_offset_ok: bool = True  # Braze's update examples send "…Z" with in_local_time


LENIENT_SCHEDULE = ScheduleRules()


def check_schedule(value: Any, now: datetime, rules: ScheduleRules = LENIENT_SCHEDULE) -> Schedule:
    if value is None:
        raise Invalid("schedule is required")
    if not isinstance(value, dict):
        raise Invalid("schedule must be an object")
    time_s = value.get("time")
    if time_s is None:
        raise Invalid("schedule.time is required")
    dt = parse_iso(time_s)
    if dt is None:
        raise bad_request(f"schedule.time {time_s!r} is not an ISO-8601 datetime")
    local = optional_bool(value, "in_local_time", "schedule.") or False
    optimal = optional_bool(value, "at_optimal_time", "schedule.") or False
    if local and optimal and not rules.both_flags_ok:
        raise Invalid("schedule: in_local_time and at_optimal_time cannot both be true")
    if (local or optimal) and dt.tzinfo is not None:
        if not rules.local_offset_ok:
            flag = "in_local_time" if local else "at_optimal_time"
            raise Invalid(f"schedule.time must not include a time zone offset when {flag} is true")
        dt = dt.replace(tzinfo=None)  # a wall-clock time: the designator is ignored
    utc = as_utc(dt)
    if local and utc + LATEST_ZONE_OFFSET < now:
        raise bad_request(
            "schedule.time has already passed in all time zones (in_local_time is true)"
        )
    if optimal and utc.date() < (now - LATEST_ZONE_OFFSET).date():
        raise bad_request("schedule.time is a date in the past (at_optimal_time is true)")
    return Schedule(str(time_s), utc, local, optimal)


def local_send_started(sched: Schedule, now: datetime) -> bool:
    """Whether a local-time schedule's wall time has passed in some zone (UTC+14 first)."""
    return sched.in_local_time and sched.next_send_utc - EARLIEST_ZONE_OFFSET <= now
