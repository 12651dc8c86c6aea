"""Offline evaluation of one event: the exact Braze requests it would cause, or why not.

Used by ``braze-bridge preview`` (and the golden-case runner). Nothing is sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bridge.decode.base import Decoder
from bridge.models import Failure, Record
from bridge.processing.mapper import Mapper
from bridge.ruleset import RuleSet


@dataclass
class PreviewResult:
    requests: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    skipped: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"requests": self.requests}
        if self.dead_letters:
            out["dead_letters"] = self.dead_letters
        if self.skipped:
            out["skipped"] = self.skipped
        return out


def preview(record: Record, rules: RuleSet, decoder: Decoder) -> PreviewResult:
    """What ``run`` would do with ``record``: the same mapper, without dedupe windows."""
    res = PreviewResult()
    matching = rules.for_topic(record.topic)
    if not matching:
        res.skipped = f"no rule reads topic {record.topic!r}"
        return res
    mapped = Mapper(lambda _topic: decoder).map(record, matching, dedupe=False)
    if mapped.retry is not None:
        exc = mapped.retry
        res.dead_letters.append(
            {"stage": "decode", "class": type(exc).__name__, "message": str(exc)}
        )
        return res
    for f in mapped.failures:
        res.dead_letters.append(_dead_letter(f))
    for rule, shape, identity, payload in mapped.built:
        body = shape.body([payload])
        if shape.kind in ("schedule_update", "schedule_delete"):
            # filled in from the state topic when the bridge runs
            body["schedule_id"] = f"<schedule_id of {identity}>"
        res.requests.append(
            {"rule": rule, "method": shape.method, "path": shape.path, "body": body}
        )
    if not mapped.matched and not mapped.failures:
        res.skipped = "no rule matched"
    return res


def _dead_letter(f: Failure) -> dict[str, Any]:
    out: dict[str, Any] = {"stage": f.stage}
    if f.rule is not None:
        out["rule"] = f.rule
    out["class"] = f.error_class
    out["message"] = f.message
    return out
