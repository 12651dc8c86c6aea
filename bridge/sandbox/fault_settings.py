"""Readers of the fault settings' values (rates, seconds, latency, string lists, message
variations) and the names the settings may use; each raises `FaultError` naming the key."""

from __future__ import annotations

from typing import Any


class FaultError(ValueError):
    """Bad fault settings."""


def rate(data: dict[str, Any], key: str) -> float:
    v = data.get(key, 0)
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 1:
        raise FaultError(f"{key}: expected a number between 0 and 1")
    return float(v)


def seconds(data: dict[str, Any], key: str, default: float | None) -> float | None:
    v = data.get(key, default)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
        raise FaultError(f"{key}: expected a number >= 0")
    return float(v)


def latency(v: Any) -> tuple[float, float] | None:
    if v is None:
        return None
    if isinstance(v, dict):
        v = [v.get("min"), v.get("max")]
    if isinstance(v, int | float) and not isinstance(v, bool):
        v = [v, v]
    if (
        not isinstance(v, list)
        or len(v) != 2
        or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in v)
        or not 0 <= v[0] <= v[1]
    ):
        raise FaultError("latency_ms: expected ms, [min, max] or {min, max} with 0 <= min <= max")
    return float(v[0]), float(v[1])


def strings(data: dict[str, Any], key: str) -> tuple[str, ...]:
    v = data.get(key, [])
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
        raise FaultError(f"{key}: expected a list of non-empty strings")
    return tuple(v)


KNOWN = frozenset(
    {
        "seed",
        "error_rate",
        "error_statuses",
        "latency_ms",
        "hang_rate",
        "hang_s",
        "reset_rate",
        "rate_limit_for_s",
        "unauthorized_for_s",
        "poison_prefixes",
        "poison_ids",
        "paths",
        "forbidden_for_s",
        "queued_rate",
        "partial_error_rate",
        "message_variations",
        "duplicate_send_id_status",
        "duplicate_send_id_message",
    }
)


def variations(v: Any) -> dict[str, dict[str, str | None]]:
    """`message_variations`: {campaign_id: [variation ids] | {variation id: channel}}."""
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise FaultError("message_variations: expected {campaign_id: [ids] | {id: channel}}")
    out: dict[str, dict[str, str | None]] = {}
    for cid, ids in v.items():
        if isinstance(ids, list) and all(isinstance(x, str) and x for x in ids):
            out[cid] = dict.fromkeys(ids)
        elif isinstance(ids, dict) and all(
            isinstance(k, str) and k and (c is None or isinstance(c, str)) for k, c in ids.items()
        ):
            out[cid] = dict(ids)
        else:
            raise FaultError(
                f"message_variations[{cid}]: expected a list of ids or {{id: channel}}"
            )
    return out
