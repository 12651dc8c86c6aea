"""Times computed from events, for schedules and live activities.

Forms: ``$.eta`` (ISO-8601 string or epoch seconds/millis), ``"$.eta - 2h"``,
``{path: $.eta, offset: -2h}``, ``{in: 30m}`` (from now), or an ISO-8601 constant.
Durations: ``ms``, ``s``, ``m``, ``h``, ``d``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from bridge.errors import RuleError, RuleSpecError
from bridge.models import Event
from bridge.rules.paths import MISSING, compile_path, is_reference

_EXPR = re.compile(r"^\s*(\$\S+)\s*(?:([+-])\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d))?\s*$")
_DUR = re.compile(r"^\s*([+-]?)\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}

TimeFn = Callable[[Event], datetime]


def parse_duration(text: str) -> timedelta:
    m = _DUR.match(str(text))
    if not m:
        raise ValueError(f"{text!r} is not a duration like 2h, -30m, 90s, 1d")
    sign = -1 if m.group(1) == "-" else 1
    return timedelta(seconds=sign * float(m.group(2)) * _UNIT[m.group(3)])


def to_datetime(v: Any) -> datetime:
    """ISO-8601 string (naive = UTC) or epoch seconds/millis -> aware datetime."""
    if isinstance(v, bool):
        raise ValueError("a boolean is not a time")
    if isinstance(v, int | float):
        secs = v / 1000 if abs(v) >= 1e11 else v
        return datetime.fromtimestamp(secs, UTC)
    if isinstance(v, str):
        dt = datetime.fromisoformat(v.strip().replace("Z", "+00:00"))
        return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)
    raise ValueError(f"cannot read {type(v).__name__} as a time")


def compile_time(spec: Any, where: str, rule: str) -> TimeFn:
    """Compile a time spec into ``(event) -> aware datetime``; bad specs raise RuleSpecError
    (a bad ``in`` duration: ValueError with the reason only)."""
    offset = timedelta(0)
    path: str | None = None
    if isinstance(spec, dict):
        if set(spec) == {"in"}:
            delta = parse_duration(spec["in"])
            return lambda e: datetime.now(UTC) + delta
        extra = set(spec) - {"path", "offset"}
        if extra or "path" not in spec:
            raise RuleSpecError(where, "expected {path, offset} or {in}")
        path = str(spec["path"])
        if spec.get("offset") is not None:
            try:
                offset = parse_duration(spec["offset"])
            except ValueError as exc:
                raise RuleSpecError(f"{where}.offset", str(exc)) from exc
    elif isinstance(spec, str) and spec.strip().startswith("$"):
        m = _EXPR.match(spec)
        if not m or not is_reference(m.group(1)):
            raise RuleSpecError(where, f"{spec!r} is not like '$.eta' or '$.eta - 2h'")
        path = m.group(1)
        if m.group(2):
            offset = parse_duration(f"{m.group(2)}{m.group(3)}{m.group(4)}")
    else:
        try:
            fixed = to_datetime(spec)
        except ValueError as exc:
            raise RuleSpecError(where, str(exc)) from exc
        return lambda e: fixed
    try:
        get = compile_path(path)
    except ValueError as exc:
        raise RuleSpecError(where, str(exc)) from exc
    p = path

    def at(e: Event) -> datetime:
        v = get(e)
        if v is MISSING or v is None:
            raise RuleError(f"required time field {p} is missing", rule=rule, path=p)
        try:
            return to_datetime(v) + offset
        except (ValueError, OverflowError) as exc:
            raise RuleError(f"time field {p}: {exc}", rule=rule, path=p) from exc

    return at


# UTC+14 is the first zone to reach a wall-clock time and UTC-12 the last: a wall time W has
# passed in every zone once UTC is more than 12 h past W (Braze's schedule object page).
LAST_ZONE = timedelta(hours=12)


def local_time_passed(
    wall: datetime, now: datetime, company_time_zone: tzinfo | None = None
) -> bool:
    """Has the wall-clock time ``wall`` (its tzinfo ignored) passed for ``in_local_time``?

    Braze's schedule object page says "passed in all time zones" (the default); its errors
    page says "passed in your company's time zone" (the stricter reading, used when the rule
    names ``company_time_zone``). Which one Braze applies is unconfirmed.
    """
    naive = wall.replace(tzinfo=None)
    if company_time_zone is not None:
        return naive.replace(tzinfo=company_time_zone) < now
    return naive.replace(tzinfo=UTC) + LAST_ZONE < now


def optimal_date_passed(wall: datetime, now: datetime) -> bool:
    """``at_optimal_time`` sends on the *date* of ``wall``: passed once that date is over in
    the last zone (UTC-12)."""
    return wall.replace(tzinfo=None).date() < (now - LAST_ZONE).date()


def braze_time(dt: datetime, local: bool) -> str:
    """Braze's format: UTC with Z, or wall-clock without a zone for local/optimal time."""
    if local:
        return dt.replace(tzinfo=None).isoformat(timespec="seconds")
    return dt.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"
