"""Compile the configured rules once; evaluate them per event.

The hot path per event is: look up the rules of its topic, call each compiled predicate,
and call the compiled builder of each match. No rule text is parsed after start-up.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from bridge.actions.base import TRANSACTIONAL, Builder, Shape, priority_value
from bridge.actions.common import ensure_serialisable
from bridge.actions.registry import compile_action
from bridge.errors import ConfigError, RuleSpecError
from bridge.models import Event
from bridge.rules.conditions import Predicate, compile_when
from bridge.rules.paths import MISSING, Accessor, compile_path
from bridge.rules.spec import RuleSettings
from bridge.rules.times import parse_duration

if TYPE_CHECKING:  # settings imports the rule models: at run time only the annotation
    from bridge.settings import Settings


def _digest(k: Any) -> bytes:
    """A fixed-size stand-in for an id: memory is bounded by key count, whatever an id's size.

    Typed, so "1", 1 and true stay different ids; 128 bits make collisions negligible.
    """
    if isinstance(k, bytes):
        raw = b"b" + k
    elif isinstance(k, str):
        raw = b"s" + k.encode("utf-8", "surrogatepass")
    else:
        raw = b"j" + repr(k).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(raw, digest_size=16).digest()


class Dedupe:
    """Ids seen within a window (per replica, in memory, bounded by count; ids are hashed)."""

    def __init__(self, key: Accessor, window_s: float, max_keys: int) -> None:
        self.key = key
        self.window_s = window_s
        self.max_keys = max_keys
        self._seen: OrderedDict[bytes, float] = OrderedDict()

    def seen(self, event: Event) -> bool:
        k = self.key(event)
        if k is MISSING or k is None:
            return False
        now = time.monotonic()
        d = self._seen
        while d:
            oldest, at = next(iter(d.items()))
            if now - at <= self.window_s and len(d) < self.max_keys:
                break
            del d[oldest]
        k = _digest(k)
        prev = d.get(k)
        if prev is not None and now - prev <= self.window_s:
            return True
        d[k] = now
        d.move_to_end(k)
        return False


@dataclass(frozen=True, slots=True)
class CompiledRule:
    name: str
    topic: str
    action: str
    target: str
    matches: Predicate
    build: Builder
    dedupe: Dedupe | None = None
    shadow: bool = False

    def build_checked(self, e: Event) -> tuple[Shape, Any, Any]:
        """:attr:`build`, then the JSON check the mapper makes on every item
        (:func:`check_built`)."""
        shape, identity, payload = self.build(e)
        check_built(self.name, shape, payload)
        return shape, identity, payload


def _shadowed(build: Builder) -> Builder:
    cache: dict[Shape, Shape] = {}

    def wrapped(e: Event) -> tuple[Shape, Any, Any]:
        shape, identity, payload = build(e)
        s = cache.get(shape)
        if s is None:
            s = cache[shape] = replace(shape, shadow=True)
            if len(cache) > 10_000:
                cache.clear()
        return s, identity, payload

    return wrapped


def _with_shape(build: Builder, **changes: Any) -> Builder:
    """Set request-level fields of the rule's shapes (workspace, priority); one new shape per
    distinct shape, cached, so batching still groups by identity."""
    cache: dict[Shape, Shape] = {}

    def wrapped(e: Event) -> tuple[Shape, Any, Any]:
        shape, identity, payload = build(e)
        s = cache.get(shape)
        if s is None:
            s = cache[shape] = replace(shape, **changes)
            if len(cache) > 10_000:
                cache.clear()
        return s, identity, payload

    return wrapped


def _in_workspace(build: Builder, workspace: str) -> Builder:
    return _with_shape(build, workspace=workspace)


def _prioritised(build: Builder, priority: int) -> Builder:
    return _with_shape(build, priority=priority)


def check_built(rule: str, shape: Shape, payload: Any) -> None:
    """Raise RuleError naming the field when a built item (or its request-level fields) cannot
    be written as JSON, so a bad value fails its event only, never the batch it would join.
    The mapper runs the common case inline (one ``orjson.dumps``) and calls this to name
    the field; :meth:`CompiledRule.build_checked` runs both for callers outside the mapper."""
    # body -> recipients list -> item: two enclosing levels, or the body itself
    ensure_serialisable(payload, "item", rule, 2 if shape.list_field else 0)
    ensure_serialisable(shape.base, "request", rule)


class RuleSet:
    """Compiled rules indexed by topic."""

    def __init__(self, rules: Sequence[CompiledRule]) -> None:
        self.rules = tuple(rules)
        # Topics starting with "^" are regular expressions (as in librdkafka subscriptions);
        # the rules of a concrete topic are resolved once and cached, keeping rule order.
        self._patterns = [(re.compile(r.topic), r) for r in self.rules if r.topic.startswith("^")]
        self._by_topic: dict[str, tuple[CompiledRule, ...]] = {}
        for r in self.rules:
            if not r.topic.startswith("^"):
                self._by_topic[r.topic] = (*self._by_topic.get(r.topic, ()), r)
        if self._patterns:  # a pattern can also match a topic named exactly by another rule
            self._by_topic = {}

    def for_topic(self, topic: str) -> tuple[CompiledRule, ...]:
        found = self._by_topic.get(topic)
        if found is not None:
            return found
        if not self._patterns:
            return ()
        rules = tuple(
            r
            for r in self.rules
            if (r.topic == topic) or (r.topic.startswith("^") and re.match(r.topic, topic))
        )
        if len(self._by_topic) < 10_000:
            self._by_topic[topic] = rules
        return rules

    @property
    def topics(self) -> list[str]:
        return sorted({r.topic for r in self.rules})


def target_of(rule: RuleSettings) -> str:
    if rule.live_activity is not None:
        la = rule.live_activity.app_id
        return str(la) if isinstance(la, str) and not la.startswith("$") else "live_activity"
    return rule.campaign_id or rule.canvas_id or rule.action


def compile_rule(rule: RuleSettings, index: int, max_recipients: int) -> CompiledRule:
    where = f"rules[{index}]"
    try:
        matches = compile_when(rule.when, f"{where}.when")
        build = compile_action(rule, max_recipients, where)
    except RuleSpecError as exc:
        raise ConfigError(exc.reason, field=exc.field) from exc
    except ValueError as exc:  # a reason without a field (a bad ``in`` duration): the rule's
        raise ConfigError(str(exc), field=where) from exc
    dedupe = None
    if rule.dedupe is not None:
        try:
            key = compile_path(str(rule.dedupe.key))
            window = parse_duration(rule.dedupe.window).total_seconds()
        except ValueError as exc:
            raise ConfigError(str(exc), field=f"{where}.dedupe") from exc
        dedupe = Dedupe(key, window, rule.dedupe.max_keys)
    if priority_value(rule.priority) != TRANSACTIONAL:
        build = _prioritised(build, priority_value(rule.priority))
    if rule.shadow:
        build = _shadowed(build)
    return CompiledRule(
        rule.name, rule.topic, rule.action, target_of(rule), matches, build, dedupe, rule.shadow
    )


def compile_rules(settings: Settings, file: str | None = None) -> RuleSet:
    """Compile every enabled rule; a bad rule raises ConfigError naming its field."""
    out = []
    for i, rule in enumerate(settings.rules):
        if not rule.enabled:
            continue
        try:
            compiled = compile_rule(rule, i, settings.batching.max_recipients)
            workspace = settings.workspace_of(rule)
            if workspace != "default":  # the default workspace's shapes are today's
                compiled = replace(compiled, build=_in_workspace(compiled.build, workspace))
            out.append(compiled)
        except ConfigError as exc:
            field = exc.field or f"rules[{i}]"
            if not field.startswith("rules["):
                field = f"rules[{i}].{field}"
            raise ConfigError(exc.reason, file=file, field=field) from exc
    return RuleSet(out)
