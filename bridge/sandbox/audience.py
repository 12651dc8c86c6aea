"""The connected audience object (§2.8): AND/OR trees of custom-attribute, subscription and
last-used-app filters."""

from __future__ import annotations

from typing import Any

from bridge.sandbox.fields import Invalid, parse_iso

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
        _check_custom_attribute(f, cmp, value, where)
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


def _check_custom_attribute(f: dict[str, Any], cmp: str, value: Any, where: str) -> None:
    """A `custom_attribute` filter: its name, the comparison, and a value of the comparison's
    type (none for exists/does_not_exist)."""
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


def check_optional_audience(body: dict[str, Any]) -> None:
    """`audience` when the body has one."""
    if body.get("audience") is not None:
        check_audience(body["audience"])
