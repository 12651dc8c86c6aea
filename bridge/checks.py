"""Static checks of a valid configuration: what ``check`` warns about (and ``console`` shows
beside the rules). Nothing here fails a start; each warning is one line for a human."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bridge.ruleset import RuleSet
    from bridge.settings import Settings


def check_warnings(settings: Settings, rules: RuleSet, missing: list[str]) -> list[str]:
    """The warnings of ``check`` (also shown by ``console`` beside the rules)."""
    from bridge.settings import endpoint_warnings

    warnings = [f"environment variable {m} is not set (needed by 'run')" for m in missing]
    warnings += endpoint_warnings(settings.braze)
    seen: dict[tuple[str, str], str] = {}
    creates = {
        (r.schedule.name or r.name)
        for r in settings.rules
        if r.schedule is not None and r.schedule.operation == "create"
    }
    for rs in settings.rules:
        if rs.schedule is not None and rs.schedule.operation != "create":
            if (rs.schedule.name or rs.name) not in creates:
                warnings.append(
                    f"rule {rs.name!r}: no rule creates schedule {rs.schedule.name or rs.name!r}"
                )
    lifecycle = {r.name for r in settings.rules if r.schedule is not None}
    for r in rules.rules:
        key = (r.action, r.target)
        if r.name in lifecycle or r.action in ("message_send", "live_activity_update"):
            continue
        if key in seen:
            warnings.append(f"rules {seen[key]!r} and {r.name!r} both target {r.action} {r.target}")
        else:
            seen[key] = r.name
    disabled = [r.name for r in settings.rules if not r.enabled]
    if disabled:
        warnings.append(f"disabled rules: {', '.join(disabled)}")
    if settings.kafka.topics:
        unread = sorted({r.topic for r in rules.rules} - set(settings.kafka.topics))
        for t in unread:
            warnings.append(f"rules read topic {t!r}, which kafka.topics does not subscribe to")
    for rs in settings.rules:
        reason = _never_matches(rs.when)
        if reason:
            warnings.append(f"rule {rs.name!r} can never match: {reason}")
    return warnings


def _never_matches(when: object) -> str | None:
    """Static checks for conditions that no event can satisfy."""
    if not isinstance(when, dict):
        return None
    for key, spec in when.items():
        if key in ("all", "any") and isinstance(spec, list):
            subs = [_never_matches(x) for x in spec]
            if key == "all" and any(subs):
                return next(x for x in subs if x)
            if key == "any" and spec and all(subs):
                return subs[0]
            continue
        if not isinstance(spec, dict):
            continue
        if spec.get("one_of") == []:
            return f"{key}: one_of is empty"
        if spec.get("exists") is False and set(spec) - {"exists", "not_equals", "not_one_of"}:
            return f"{key}: exists: false together with a condition on its value"
        lo = spec.get("gt", spec.get("gte"))
        hi = spec.get("lt", spec.get("lte"))
        if isinstance(lo, int | float) and isinstance(hi, int | float) and lo >= hi:
            if not (lo == hi and "gte" in spec and "lte" in spec):
                return f"{key}: the lower bound {lo} is not below the upper bound {hi}"
    return None
