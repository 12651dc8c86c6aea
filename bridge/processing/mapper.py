"""The mapper: one record and its candidate rules -> what should happen, without I/O.

decode -> match -> dedupe -> build. The result is a :class:`Mapped`: items to batch, failures
to dead-letter, a skip reason, or "retry later" (the schema registry is unreachable). ``run``,
``replay``, ``preview``/``test`` and the benchmarks all map through this one function; only
what they do with the result differs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bridge.actions.base import Shape
from bridge.decode.base import Decoder
from bridge.errors import DecodeError, RuleError, SchemaRegistryUnavailable
from bridge.models import Event, Failure, Record
from bridge.rules.engine import CompiledRule

log = logging.getLogger("bridge.processing.mapper")


@dataclass(frozen=True, slots=True)
class Built:
    """One rule's request part for the event (a recipient, an id, a whole body)."""

    rule: str
    shape: Shape
    identity: Any
    payload: Any


@dataclass(slots=True)
class Mapped:
    """The mapper's verdict for one record.

    ``tracked``: the record has actions (items or failures), so it needs a ticket; otherwise
    it is final at once (``skip`` says why, ``duplicates`` counts rules that saw it before).
    ``retry``: the decoder could not reach the schema registry; the record must be read again.
    """

    built: list[Built] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    matched: list[str] = field(default_factory=list)
    duplicates: int = 0
    retry: SchemaRegistryUnavailable | None = None

    @property
    def tracked(self) -> bool:
        return bool(self.built or self.failures)

    @property
    def skip(self) -> str | None:
        return None if self.tracked or self.retry is not None else "no_match"


class Mapper:
    """Maps records through rules; decoders are built once per topic (``decoder_for``)."""

    def __init__(self, decoder_for: Callable[[str], Decoder]) -> None:
        self._decoder_for = decoder_for
        self._decoders: dict[str, Decoder] = {}

    def decoder(self, topic: str) -> Decoder:
        d = self._decoders.get(topic)
        if d is None:
            d = self._decoders[topic] = self._decoder_for(topic)
        return d

    def map(
        self, record: Record, rules: tuple[CompiledRule, ...], *, dedupe: bool = True
    ) -> Mapped:
        """``dedupe=False`` (preview, golden cases) leaves the rules' dedupe windows alone."""
        out = Mapped()
        try:
            payload = self.decoder(record.topic).decode(record)
        except SchemaRegistryUnavailable as exc:
            out.retry = exc
            return out
        except DecodeError as exc:
            out.failures.append(Failure("decode", type(exc).__name__, str(exc)))
            return out
        event = Event(record, payload)
        for rule in rules:
            try:
                if not rule.matches(event):
                    continue
            except Exception as exc:  # noqa: BLE001 - a predicate must never stop the loop
                log.warning("condition failed", extra={"rule": rule.name, "error": repr(exc)})
                continue
            if dedupe and rule.dedupe is not None and rule.dedupe.seen(event):
                out.duplicates += 1
                continue
            out.matched.append(rule.name)
            try:
                shape, identity, item_payload = rule.build(event)
            except RuleError as exc:
                out.failures.append(Failure("rules", "RuleError", str(exc), rule=rule.name))
                continue
            except Exception as exc:  # noqa: BLE001 - mapping bugs dead-letter, never crash
                out.failures.append(Failure("rules", type(exc).__name__, str(exc), rule=rule.name))
                continue
            out.built.append(Built(rule.name, shape, identity, item_payload))
        return out
