"""Compile the configured rules once; evaluate them per event.

The hot path per event is: look up the rules of its topic, call each compiled predicate,
and call the compiled builder of each match. No rule text is parsed after start-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bridge.actions.base import Builder
from bridge.actions.registry import compile_action
from bridge.errors import ConfigError
from bridge.rules.conditions import Predicate, compile_when
from bridge.rules.spec import RuleSettings
from bridge.settings import Settings


@dataclass(frozen=True, slots=True)
class CompiledRule:
    name: str
    topic: str
    action: str
    target: str
    matches: Predicate
    build: Builder


class RuleSet:
    """Compiled rules indexed by topic."""

    def __init__(self, rules: Sequence[CompiledRule]) -> None:
        self.rules = tuple(rules)
        by_topic: dict[str, list[CompiledRule]] = {}
        for r in self.rules:
            by_topic.setdefault(r.topic, []).append(r)
        self._by_topic = {t: tuple(rs) for t, rs in by_topic.items()}

    def for_topic(self, topic: str) -> tuple[CompiledRule, ...]:
        return self._by_topic.get(topic, ())

    @property
    def topics(self) -> list[str]:
        return sorted(self._by_topic)


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
    except ValueError as exc:
        msg = str(exc)
        field, sep, reason = msg.partition(": ")
        if not sep or not field.startswith(where):
            raise ConfigError(msg, field=where) from exc
        raise ConfigError(reason, field=field) from exc
    return CompiledRule(rule.name, rule.topic, rule.action, target_of(rule), matches, build)


def compile_rules(settings: Settings, file: str | None = None) -> RuleSet:
    """Compile every enabled rule; a bad rule raises ConfigError naming its field."""
    out = []
    for i, rule in enumerate(settings.rules):
        if not rule.enabled:
            continue
        try:
            out.append(compile_rule(rule, i, settings.batching.max_recipients))
        except ConfigError as exc:
            field = exc.field or f"rules[{i}]"
            if not field.startswith("rules["):
                field = f"rules[{i}].{field}"
            raise ConfigError(exc.reason, file=file, field=field) from exc
    return RuleSet(out)
