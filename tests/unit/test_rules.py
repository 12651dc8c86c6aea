from __future__ import annotations

from typing import Any

import pytest

from bridge.errors import ConfigError, RuleError
from bridge.rules.conditions import compile_when
from bridge.rules.mapping import compile_object
from bridge.rules.paths import MISSING, compile_path
from bridge.ruleset import compile_rules

from .helpers import event, settings


def rule(**kw: Any) -> dict[str, Any]:
    base = {
        "name": "r",
        "topic": "orders",
        "action": "campaign_trigger",
        "campaign_id": "c1",
        "recipient": {"external_user_id": "$.user.id"},
    }
    base.update(kw)
    return base


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("$.a.b", {"a": {"b": 1}}, 1),
        ("$.a.b", {"a": {"c": 1}}, MISSING),
        ("$.a.b", {"a": [1]}, MISSING),
        ("$.items[1].sku", {"items": [{"sku": "x"}, {"sku": "y"}]}, "y"),
        ("$.items[5]", {"items": []}, MISSING),
        ('$["odd key"].x', {"odd key": {"x": False}}, False),
        ("$.n", {"n": None}, None),
    ],
)
def test_paths(path: str, value: Any, expected: Any) -> None:
    got = compile_path(path)(event(value))
    if expected is MISSING:
        assert got is MISSING
    else:
        assert got == expected and type(got) is type(expected)


def test_metadata_paths() -> None:
    e = event({}, key=b"k1", headers=(("source", b"web"),))
    assert compile_path("$key")(e) == "k1"
    assert compile_path("$headers.source")(e) == "web"
    assert compile_path("$headers.nope")(e) is MISSING
    assert compile_path("$topic")(e) == "orders"


def test_conditions_keep_json_types() -> None:
    p = compile_when({"type": "order.shipped", "$.flag": True, "$.n": 1})
    assert p(event({"type": "order.shipped", "flag": True, "n": 1}))
    assert not p(event({"type": "order.shipped", "flag": 1, "n": 1}))
    assert not p(event({"type": "order.shipped", "flag": True, "n": "1"}))


def test_operators() -> None:
    assert compile_when({"t": {"one_of": ["a", "b"]}})(event({"t": "b"}))
    assert not compile_when({"t": {"one_of": ["a", "b"]}})(event({"t": "c"}))
    assert not compile_when({"t": {"one_of": ["1", "b"]}})(event({"t": 1}))  # types kept apart
    assert not compile_when({"t": {"not_one_of": ["a", "b"]}})(event({"t": "a"}))
    assert compile_when({"t": {"not_one_of": ["a", "b"]}})(event({"t": 1}))
    assert not compile_when({"t": {"not_one_of": ["a"]}})(event({}))  # missing: no match
    assert compile_when({"t": {"one_of": [1, "b"]}})(event({"t": 1.0}))  # 1 == 1.0
    assert compile_when({"u": {"exists": True}})(event({"u": 0}))
    assert not compile_when({"u": {"exists": True}})(event({"u": None}))
    assert compile_when({"u": {"exists": False}})(event({}))
    assert compile_when({"n": {"gte": 10, "lt": 20}})(event({"n": 10}))
    assert not compile_when({"n": {"gt": 10}})(event({"n": "11"}))
    assert compile_when({"at": {"gt": "2026-01-01T00:00:00Z"}})(
        event({"at": "2026-05-01T00:00:00Z"})
    )
    assert compile_when({"s": {"regex": "^ab+c$"}})(event({"s": "abbc"}))
    assert compile_when({"s": {"prefix": "ord"}})(event({"s": "order"}))
    assert compile_when({"any": [{"a": 1}, {"b": 2}]})(event({"b": 2}))
    assert not compile_when({"not": {"a": 1}})(event({"a": 1}))
    assert compile_when({"$key": {"prefix": "k"}})(event({}, key=b"k9"))


def test_bad_operator_is_a_config_error_with_the_field() -> None:
    s = settings([rule(when={"type": {"one_off": ["a"]}})])
    with pytest.raises(ConfigError) as e:
        compile_rules(s, "f.yaml")
    assert e.value.field == "rules[0].when.type"
    assert "one_off" in e.value.reason


def test_mapping_types_defaults_and_liquid() -> None:
    m = compile_object(
        {
            "id": "$.order.id",
            "total": "$.order.total",
            "items": "$.order.items",
            "carrier": {"path": "$.ship.carrier", "default": "unknown"},
            "opt": {"path": "$.nope", "optional": True},
            "n": {"path": "$.order.count", "as": "integer"},
            "at": {"path": "$.ts", "as": "iso_time"},
            "liquid": "{{${first_name}}} {{ api_trigger_properties.${x} }}",
            "lit": {"const": "$.not.a.path"},
            "price": "$5 off",
        },
        "tp",
        "r",
    )
    out = m(
        event(
            {
                "order": {"id": "o1", "total": 12.5, "items": [{"a": 1}], "count": "3"},
                "ts": 1700000000000,
            }
        )
    )
    assert out == {
        "id": "o1",
        "total": 12.5,
        "items": [{"a": 1}],
        "carrier": "unknown",
        "n": 3,
        "at": "2023-11-14T22:13:20.000Z",
        "liquid": "{{${first_name}}} {{ api_trigger_properties.${x} }}",
        "lit": "$.not.a.path",
        "price": "$5 off",
    }


def test_missing_required_field_names_the_path() -> None:
    m = compile_object({"id": "$.order.id"}, "tp", "r")
    with pytest.raises(RuleError, match=r"\$\.order\.id"):
        m(event({"order": {}}))


def test_campaign_trigger_builds_recipient_with_properties() -> None:
    s = settings([rule(trigger_properties={"order_id": "$.order.id"})])
    rs = compile_rules(s)
    r = rs.for_topic("orders")[0]
    shape, identity, payload = r.build_checked(event({"user": {"id": 42}, "order": {"id": "o1"}}))
    assert shape.path == "/campaigns/trigger/send"
    assert payload == {"external_user_id": "42", "trigger_properties": {"order_id": "o1"}}
    assert shape.body([payload]) == {
        "campaign_id": "c1",
        "broadcast": False,
        "recipients": [payload],
    }


def test_canvas_trigger_uses_context_or_legacy_field() -> None:
    base = rule(action="canvas_trigger", canvas_id="cv", campaign_id=None, context={"x": "$.x"})
    for field in ("context", "canvas_entry_properties"):
        s = settings([{**base, "context_field": field}])
        r = compile_rules(s).for_topic("orders")[0]
        shape, _, payload = r.build_checked(event({"user": {"id": "u"}, "x": 1}))
        assert shape.path == "/canvas/trigger/send"
        assert payload[field] == {"x": 1}


def test_user_alias_and_email_recipients() -> None:
    s = settings(
        [
            rule(name="a", recipient={"user_alias": {"alias_name": "$.u", "alias_label": "shop"}}),
            rule(
                name="e",
                recipient={"email": "$.m", "prioritization": ["identified"]},
                campaign_id="c2",
            ),
        ]
    )
    a, e = compile_rules(s).for_topic("orders")
    _, _, pa = a.build_checked(event({"u": "x"}))
    assert pa == {"user_alias": {"alias_name": "x", "alias_label": "shop"}}
    _, _, pe = e.build_checked(event({"m": "a@b.c"}))
    assert pe == {"email": "a@b.c", "prioritization": ["identified"]}


def test_properties_over_50kb_are_refused() -> None:
    s = settings([rule(trigger_properties={"blob": "$.blob"})])
    r = compile_rules(s).for_topic("orders")[0]
    with pytest.raises(RuleError, match="50 KB"):
        r.build_checked(event({"user": {"id": "u"}, "blob": "x" * 60_000}))


def test_templates_leave_liquid_alone() -> None:
    m = compile_object(
        {
            "msg": {
                "template": "Order {id} ({n} items) for {{${first_name}}} {% if x %}!{% endif %}",
                "values": {"id": "$.order.id", "n": "$.order.n"},
            }
        },
        "tp",
        "r",
    )
    out = m(event({"order": {"id": "o-7", "n": 3}}))
    assert out == {"msg": "Order o-7 (3 items) for {{${first_name}}} {% if x %}!{% endif %}"}


def test_template_with_undeclared_placeholder_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="has no entry in values"):
        compile_object({"m": {"template": "Hi {name}", "values": {}}}, "tp", "r")


def test_topic_patterns_select_rules() -> None:
    s = settings([rule(topic="^orders\\..*"), rule(name="exact", topic="orders.eu")])
    rs = compile_rules(s)
    assert [r.name for r in rs.for_topic("orders.eu")] == ["r", "exact"]
    assert [r.name for r in rs.for_topic("orders.us")] == ["r"]
    assert rs.for_topic("payments") == ()


def test_dedupe_window_drops_repeats_only_within_the_window() -> None:
    s = settings([rule(dedupe={"key": "$.id", "window": "10m"})])
    r = compile_rules(s).for_topic("orders")[0]
    assert r.dedupe is not None
    assert not r.dedupe.seen(event({"id": "e1"}))
    assert r.dedupe.seen(event({"id": "e1"}))
    assert not r.dedupe.seen(event({"id": "e2"}))
    assert not r.dedupe.seen(event({}))  # no id: never a duplicate
