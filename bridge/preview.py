"""Offline evaluation of one event: the exact Braze requests it would cause, or why not.

Used by ``braze-bridge preview`` (and the golden-case runner). Nothing is sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bridge.decode.base import Decoder
from bridge.errors import DecodeError, RuleError
from bridge.models import Event, Record
from bridge.rules.engine import RuleSet


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
    res = PreviewResult()
    matching = rules.for_topic(record.topic)
    if not matching:
        res.skipped = f"no rule reads topic {record.topic!r}"
        return res
    try:
        value = decoder.decode(record)
    except DecodeError as exc:
        res.dead_letters.append(
            {"stage": "decode", "class": type(exc).__name__, "message": str(exc)}
        )
        return res
    event = Event(record, value)
    matched = False
    for rule in matching:
        if not rule.matches(event):
            continue
        matched = True
        try:
            shape, identity, payload = rule.build(event)
        except RuleError as exc:
            res.dead_letters.append(
                {"stage": "rules", "rule": rule.name, "class": "RuleError", "message": str(exc)}
            )
            continue
        body = shape.body([payload])
        if shape.kind in ("schedule_update", "schedule_delete"):
            # filled in from the state topic when the bridge runs
            body["schedule_id"] = f"<schedule_id of {identity}>"
        res.requests.append(
            {"rule": rule.name, "method": shape.method, "path": shape.path, "body": body}
        )
    if not matched:
        res.skipped = "no rule matched"
    return res
