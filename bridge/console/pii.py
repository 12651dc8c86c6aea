"""User ids and emails masked as the bridge's logs mask them (`observability.pii`)."""

from __future__ import annotations

from typing import Any

from bridge.ops.logs import mask_pii

ID_FIELDS = frozenset(
    {
        "external_user_id",
        "external_user_ids",
        "user_id",
        "email",
        "alias_name",
        "braze_id",
        "phone",
        "user",
    }
)


def mask_ids(value: Any, mode: str) -> Any:
    """A copy of a JSON value with every user id / email under an id field masked."""
    if mode == "none":
        return value
    if isinstance(value, dict):
        return {
            k: _mask_all(v, mode) if k in ID_FIELDS else mask_ids(v, mode) for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask_ids(v, mode) for v in value]
    return value


def _mask_all(value: Any, mode: str) -> Any:
    if isinstance(value, list):
        return [_mask_all(v, mode) for v in value]
    if isinstance(value, dict):
        return {k: _mask_all(v, mode) for k, v in value.items()}
    if value is None or isinstance(value, bool):
        return value
    return mask_pii(value, mode)
