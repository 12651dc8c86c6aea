"""Field checks shared by the sandbox's Braze endpoints, and the `Invalid` answer they raise.

Strings, booleans and objects, `send_id`, property objects and their 50 KB limit (§2.9/2.10),
user aliases, ISO-8601 datetimes (the team's Braze reference, shared/docs/braze-api.md, kept
outside this repository). Each check raises `Invalid`; the HTTP layer turns it into a 400 with
Braze's body shape.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

MAX_RECIPIENTS = 50
MAX_PROPERTIES_BYTES = 50 * 1024
MAX_SEND_ID_CHARS = 64
# Re-serializing parsed JSON grows it by at most 4.5x (a number like `1e15` becomes
# `1000000000000000.0`), so a body below limit / 4.5 bytes cannot hold an object over it.
SIZE_GROWTH = 4.5

MSG_TOO_MANY_ALIASES = "The max number of external_ids and aliases per request was exceeded"
MSG_TOO_MANY_IDS = "The max number of ids per request was exceeded"
MSG_NO_RECIPIENTS = "No Recipients"
MSG_BAD_REQUEST = "Bad Request"


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


def _non_empty_str(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _is_object(value: Any) -> bool:
    return isinstance(value, dict)


def _optional(
    body: dict[str, Any], key: str, where: str, valid: Callable[[Any], bool], what: str
) -> Any:
    """`body[key]` when it is absent (None) or passes `valid`, else "<key> must be <what>"."""
    value = body.get(key)
    if value is None:
        return None
    if not valid(value):
        raise Invalid(f"{where}{key} must be {what}")
    return value


def require_str(body: dict[str, Any], key: str, where: str = "") -> str:
    if body.get(key) is None:
        raise Invalid(f"{where}{key} is required")
    value: str = _optional(body, key, where, _non_empty_str, "a non-empty string")
    return value


def optional_str(body: dict[str, Any], key: str, where: str = "") -> str | None:
    value: str | None = _optional(body, key, where, _non_empty_str, "a non-empty string")
    return value


def optional_bool(body: dict[str, Any], key: str, where: str = "") -> bool | None:
    value: bool | None = _optional(body, key, where, _is_bool, "a boolean")
    return value


def optional_object(body: dict[str, Any], key: str, where: str = "") -> dict[str, Any] | None:
    value: dict[str, Any] | None = _optional(body, key, where, _is_object, "an object")
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
