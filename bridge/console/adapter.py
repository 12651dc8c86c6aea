"""The console's one adapter to the bridge's preview: an event in, `preview`'s answer out.

Mirrors ``braze-bridge preview`` (`bridge.cli.preview.cmd_preview`): the same decoders, the
same `bridge.preview.preview` call and the same JSON rendering, so the text the console shows
is byte for byte what the command prints. Everything else in the console derives from the
returned `PreviewResult` (which rules matched, why the others did not).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bridge.decode.base import Decoder
from bridge.decode.factory import build_decoder
from bridge.errors import BridgeError
from bridge.models import Record
from bridge.preview import PreviewResult, preview
from bridge.ruleset import RuleSet
from bridge.settings import Settings


class EventError(BridgeError):
    """The event cannot be evaluated as given (e.g. JSON for an Avro topic without schema)."""


@dataclass
class Evaluated:
    result: PreviewResult
    output: str  # exactly what `braze-bridge preview` prints (with the final newline)
    # per rule of the topic that did not match: its top-level conditions that do not hold
    unmet: dict[str, list[str]] = field(default_factory=dict)


def render(result: PreviewResult) -> str:
    """`preview`'s output for a result (the same call as `cmd_preview`)."""
    return orjson.dumps(result.as_dict(), option=orjson.OPT_INDENT_2).decode() + "\n"


def evaluate(
    settings: Settings,
    rules: RuleSet,
    decoders: dict[str, Decoder],
    config_path: Path,
    topic: str,
    raw: bytes,
    key: str | None,
    headers: list[tuple[str, str]],
) -> Evaluated:
    base = config_path.parent
    decoder = decoders.get(topic) or build_decoder(settings.decoder_for(topic), None, base)
    fmt = settings.decoder_for(topic)
    if fmt.format != "json" and raw.lstrip()[:1] in (b"{", b"["):
        from bridge.decode.avro import AvroDecoder, load_schema_file
        from bridge.decode.avro import avro_encode as _avro_encode

        if not fmt.schema_path:
            raise EventError(
                f"topic {topic!r} is {fmt.format}: use `braze-bridge preview --schema` "
                "to try a JSON event on it"
            )
        parsed = load_schema_file(base / fmt.schema_path)
        try:
            raw = _avro_encode(parsed, orjson.loads(raw))
        except (ValueError, TypeError) as exc:
            raise EventError(f"the event does not match {fmt.schema_path}: {exc}") from exc
        decoder = AvroDecoder(parsed)
    hdrs = tuple((name, value.encode()) for name, value in headers)
    record = Record(topic, 0, 0, key.encode() if key else None, raw, hdrs, 0)
    result = preview(record, rules, decoder)
    ev = Evaluated(result, render(result))
    if result.skipped or len(result.requests) + len(result.dead_letters) < len(
        rules.for_topic(topic)
    ):
        ev.unmet = _unmet(settings, rules, topic, record, decoder, result)
    return ev


def _unmet(
    settings: Settings,
    rules: RuleSet,
    topic: str,
    record: Record,
    decoder: Decoder,
    result: PreviewResult,
) -> dict[str, list[str]]:
    """Which top-level conditions of each non-matching rule fail (for the explanation only:
    whether a rule matched is `preview`'s answer)."""
    from bridge.models import Event
    from bridge.rules.conditions import compile_when
    from bridge.rules.paths import MISSING, compile_path

    done = {str(r["rule"]) for r in result.requests} | {
        str(d.get("rule")) for d in result.dead_letters
    }
    try:
        event = Event(record, decoder.decode(record))
    except BridgeError:
        return {}
    specs = {r.name: r for r in settings.rules}
    out: dict[str, list[str]] = {}
    for rule in rules.for_topic(topic):
        spec = specs.get(rule.name)
        if rule.name in done or spec is None:
            continue
        failed: list[str] = []
        for key, cond in (spec.when or {}).items():
            try:
                if compile_when({key: cond})(event):
                    continue
            except (ValueError, TypeError):
                continue
            shown = orjson.dumps(cond, default=str).decode()
            if key in ("any", "all", "not"):
                failed.append(f"{key}: {shown} does not hold")
                continue
            ref = key if key.startswith("$") else "$." + key
            try:
                value = compile_path(ref)(event)
            except ValueError:
                value = MISSING
            if value is MISSING:
                failed.append(f"{key}: {shown} — {ref} is missing from the event")
            else:
                got = orjson.dumps(value, default=str).decode()
                failed.append(f"{key}: {shown} — the event has {got}")
        out[rule.name] = failed
    return out


def rule_outcomes(
    rules: RuleSet, topic: str, result: PreviewResult, unmet: dict[str, list[str]] | None = None
) -> list[dict[str, Any]]:
    """For every rule: matched (with its requests), dead-lettered (why), or not (why)."""
    made: dict[str, int] = {}
    for req in result.requests:
        made[str(req["rule"])] = made.get(str(req["rule"]), 0) + 1
    failed = {str(d["rule"]): str(d["message"]) for d in result.dead_letters if "rule" in d}
    decode_error = next(
        (str(d["message"]) for d in result.dead_letters if d.get("stage") == "decode"), None
    )
    on_topic = {r.name for r in rules.for_topic(topic)}
    out: list[dict[str, Any]] = []
    for r in rules.rules:
        if r.name in failed:
            entry = {"outcome": "dead_letter", "reason": failed[r.name]}
        elif r.name in made:
            entry = {"outcome": "matched", "reason": f"{made[r.name]} request(s)"}
        elif r.name not in on_topic:
            entry = {"outcome": "other_topic", "reason": f"reads topic {r.topic!r}"}
        elif decode_error is not None:
            entry = {"outcome": "dead_letter", "reason": f"decode: {decode_error}"}
        elif (unmet or {}).get(r.name):
            entry = {"outcome": "no_match", "reason": "; ".join((unmet or {})[r.name])}
        else:
            entry = {"outcome": "no_match", "reason": "its conditions (when) do not hold"}
        out.append({"rule": r.name, **entry})
    return out
