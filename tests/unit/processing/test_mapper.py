"""The mapper: decode -> match -> dedupe -> build, with no I/O."""

from __future__ import annotations

from typing import Any

import orjson

from bridge.decode.json import JsonDecoder
from bridge.errors import SchemaRegistryUnavailable
from bridge.models import Record
from bridge.processing.mapper import Mapper
from bridge.ruleset import compile_rules
from tests.unit.helpers import settings


def rule(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "topic": "orders",
        "action": "campaign_trigger",
        "campaign_id": f"c-{name}",
        "recipient": {"external_user_id": "$.user"},
        **extra,
    }


def rules(*specs: dict[str, Any]) -> Any:
    return compile_rules(settings(list(specs))).for_topic("orders")


def record(doc: Any, offset: int = 0) -> Record:
    raw = doc if isinstance(doc, bytes) else orjson.dumps(doc)
    return Record("orders", 0, offset, None, raw, (), 0)


MAPPER = Mapper(lambda _t: JsonDecoder())


def test_every_matching_rule_builds_one_item() -> None:
    m = MAPPER.map(record({"user": "u1", "t": "a"}), rules(rule("a"), rule("b", when={"t": "b"})))
    assert [b[0] for b in m.built] == ["a"]
    assert m.built[0][3]["external_user_id"] == "u1"
    assert m.tracked and m.skip is None and m.failures == []


def test_undecodable_bytes_are_one_decode_failure() -> None:
    m = MAPPER.map(record(b"{nope"), rules(rule("a")))
    assert [(f.stage, f.error_class, f.rule) for f in m.failures] == [
        ("decode", "DecodeError", None)
    ]
    assert m.built == [] and m.tracked


def test_a_missing_required_field_is_a_rule_failure_naming_the_rule() -> None:
    m = MAPPER.map(record({"nobody": 1}), rules(rule("a")))
    f = m.failures[0]
    assert (f.stage, f.error_class, f.rule) == ("rules", "RuleError", "a")
    assert "$.user" in f.message
    assert m.matched == ["a"]


def test_no_match_is_a_skip() -> None:
    m = MAPPER.map(record({"user": "u", "t": "x"}), rules(rule("a", when={"t": "a"})))
    assert m.skip == "no_match" and not m.tracked


def test_dedupe_drops_a_repeat_unless_disabled() -> None:
    rs = rules(rule("a", dedupe={"key": "$.id", "window": "10m"}))
    first = MAPPER.map(record({"user": "u", "id": 7}), rs)
    again = MAPPER.map(record({"user": "u", "id": 7}, offset=1), rs)
    preview = MAPPER.map(record({"user": "u", "id": 7}, offset=2), rs, dedupe=False)
    assert len(first.built) == 1
    assert again.duplicates == 1 and again.built == [] and again.skip == "no_match"
    assert len(preview.built) == 1


def test_registry_outage_is_retry_later_not_a_failure() -> None:
    class Down:
        def decode(self, _r: Record) -> Any:
            raise SchemaRegistryUnavailable("down")

    m = Mapper(lambda _t: Down()).map(record({}), rules(rule("a")))  # type: ignore[arg-type,return-value]
    assert m.retry is not None and m.failures == [] and m.skip is None


def test_a_crashing_condition_counts_as_no_match() -> None:
    class Boom:
        name = "boom"
        dedupe = None

        def matches(self, _e: Any) -> bool:
            raise ZeroDivisionError

    m = MAPPER.map(record({"user": "u"}), (Boom(),))  # type: ignore[arg-type]
    assert m.skip == "no_match"


def test_an_item_that_cannot_be_json_fails_its_rule_only_naming_the_field() -> None:
    """D2, checked inline by the mapper: nesting past orjson's limit inside a recipient (two
    levels below the body) fails that rule's action with the field; the other rule builds."""
    deep: Any = 1
    for _ in range(251):  # the item alone is 253 levels deep: it fails only inside a body
        deep = {"n": deep}
    props = rule("deep", trigger_properties={"deep": "$.deep"})
    m = MAPPER.map(record({"user": "u1", "deep": deep}), rules(props, rule("plain")))
    assert [b[0] for b in m.built] == ["plain"]
    [f] = m.failures
    assert (f.stage, f.error_class, f.rule) == ("rules", "RuleError", "deep")
    assert "item.trigger_properties.deep" in f.message and "nested deeper" in f.message


def test_request_fields_are_checked_for_each_new_shape() -> None:
    """A request-level field built per event (shared properties) that cannot be JSON fails
    the event's rule, not the batch the shape would open."""
    shared = rule("s", shared_trigger_properties={"n": "$.n"})
    ok = MAPPER.map(record({"user": "u1", "n": 1}), rules(shared))
    bad = MAPPER.map(record(b'{"user": "u2", "n": 36893488147419103232}'), rules(shared))
    assert [b[0] for b in ok.built] == ["s"] and ok.failures == []
    assert bad.built == [] and "integer with 20 digits" in bad.failures[0].message
