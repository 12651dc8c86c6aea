"""The mapper: one record and its candidate rules -> what should happen, without I/O.

decode -> match -> dedupe -> build. The result is a :class:`Mapped`: items to batch, failures
to dead-letter, a skip reason, or "retry later" (the schema registry is unreachable). ``run``,
``replay``, ``preview``/``test`` and the benchmarks all map through this one function; only
what they do with the result differs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson

from bridge.actions.base import Shape
from bridge.actions.common import ensure_serialisable
from bridge.decode.base import Decoder
from bridge.errors import DecodeError, RuleError, SchemaRegistryUnavailable
from bridge.models import Event, Failure, Record
from bridge.ruleset import CompiledRule, check_built

log = logging.getLogger("bridge.processing.mapper")
dumps = orjson.dumps


Built = tuple[str, Shape, Any, Any]
"""One rule's request part for the event: (rule name, shape, identity, payload). A plain
tuple: three of them per event on the hot path, where a dataclass costs several times more."""


class Mapped:
    """The mapper's verdict for one record.

    ``built``: request parts to batch; ``failures``: what to dead-letter; ``matched``: the
    rules that matched (metrics); ``duplicates``: rules that saw the event within their dedupe
    window; ``retry``: the decoder could not reach the schema registry (read it again later).
    A record with neither parts nor failures is final at once (:attr:`skip` says why).
    """

    __slots__ = ("built", "failures", "matched", "duplicates", "retry")

    def __init__(
        self,
        built: list[Built],
        failures: list[Failure],
        matched: list[str],
        duplicates: int = 0,
        retry: SchemaRegistryUnavailable | None = None,
    ) -> None:
        self.built = built
        self.failures = failures
        self.matched = matched
        self.duplicates = duplicates
        self.retry = retry

    @property
    def tracked(self) -> bool:
        """The record has actions (parts or failures), so it needs a ticket."""
        return bool(self.built or self.failures)

    @property
    def skip(self) -> str | None:
        return None if self.tracked or self.retry is not None else "no_match"


NOTHING: Mapped = Mapped([], [], [])  # shared by every unmatched record: never mutated


class Mapper:
    """Maps records through rules; decoders are built once per topic (``decoder_for``)."""

    def __init__(self, decoder_for: Callable[[str], Decoder]) -> None:
        self._decoder_for = decoder_for
        self._decoders: dict[str, Decoder] = {}
        # topic -> (the decode to run first, refine or None): looked up once per record
        self._decode: dict[str, tuple[Callable[[Record], Any], Callable[[Record], Any] | None]]
        self._decode = {}
        self._checked: dict[str, Shape] = {}  # rule -> its last shape whose fields were checked

    def decoder(self, topic: str) -> Decoder:
        d = self._decoders.get(topic)
        if d is None:
            d = self._decoders[topic] = self._decoder_for(topic)
        return d

    def _decode_for(self, topic: str) -> tuple[Callable[[Record], Any], Any]:
        """JSON decodes fast first (integers beyond 64 bits read lazily, by refine, once a
        rule matched); other decoders decode exactly at once."""
        decoder = self.decoder(topic)
        refine = getattr(decoder, "refine", None)
        first = decoder.decode_fast if refine is not None else decoder.decode  # type: ignore[attr-defined]
        self._decode[topic] = (first, refine)
        return first, refine

    def map(
        self, record: Record, rules: tuple[CompiledRule, ...], *, dedupe: bool = True
    ) -> Mapped:
        """``dedupe=False`` (preview, golden cases) leaves the rules' dedupe windows alone."""
        decode, refine = self._decode.get(record.topic) or self._decode_for(record.topic)
        try:
            payload = decode(record)
        except SchemaRegistryUnavailable as exc:
            return Mapped([], [], [], 0, exc)
        except DecodeError as exc:
            return Mapped([], [Failure("decode", type(exc).__name__, str(exc))], [])
        event = Event(record, payload)
        built: list[Built] | None = None
        failures: list[Failure] = []
        matched: list[str] = []
        duplicates = 0
        for rule in rules:
            try:
                if not rule.matches(event):
                    continue
            except Exception as exc:  # noqa: BLE001 - a predicate must never stop the loop
                log.warning("condition failed", extra={"rule": rule.name, "error": repr(exc)})
                continue
            if dedupe and rule.dedupe is not None and rule.dedupe.seen(event):
                duplicates += 1
                continue
            if refine is not None:
                exact = refine(record)  # only records a rule wants pay for the big-int scan
                if exact is not None:
                    event = Event(record, exact)
                refine = None
            matched.append(rule.name)
            try:
                shape, identity, item_payload = rule.build(event)
                # The JSON check of check_built, inline: one C call in the common case.
                try:
                    dumps([[item_payload]] if shape.list_field else item_payload)
                except TypeError:  # orjson.JSONEncodeError is a TypeError
                    check_built(rule.name, shape, item_payload)  # names the field
                if self._checked.get(rule.name) is not shape:  # static shapes: checked once
                    ensure_serialisable(shape.base, "request", rule.name)
                    self._checked[rule.name] = shape
            except RuleError as exc:
                failures.append(Failure("rules", "RuleError", str(exc), rule=rule.name))
                continue
            except Exception as exc:  # noqa: BLE001 - mapping bugs dead-letter, never crash
                failures.append(Failure("rules", type(exc).__name__, str(exc), rule=rule.name))
                continue
            if built is None:
                built = []
            built.append((rule.name, shape, identity, item_payload))
        if not matched and not duplicates:
            return NOTHING
        return Mapped(built or [], failures, matched, duplicates)
