"""#16 hardening of rules and mapping: D2 (unserialisable values), D3 (regex), D13 (dedupe
memory), D16 (extreme numbers and nesting), D10 (no personal data in conversion reasons)."""

from __future__ import annotations

import re
import time
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bridge.errors import ConfigError, RuleError
from bridge.ruleset import compile_rules

from .helpers import event, settings


def _rule(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "r",
        "topic": "orders",
        "action": "campaign_trigger",
        "campaign_id": "c1",
        "recipient": {
            "external_user_id": "$.user.id",
            "attributes": {"age": {"path": "$.user.age", "as": "integer"}, "raw": "$.user.raw"},
        },
    }
    base.update(kw)
    return base


def _build(rule: dict[str, Any], value: Any) -> tuple[Any, Any, Any]:
    rs = compile_rules(settings([rule]))
    return rs.rules[0].build_checked(event(value))


def _nested(depth: int) -> Any:
    v: Any = 1
    for _ in range(depth):
        v = {"n": v}
    return v


json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=12,
)
age = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=True),
    st.sampled_from(["99999999999999999999999", "1e300", "1e999", "12", "x", ""]),
)


@hsettings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(uid=st.text(min_size=1, max_size=5), age=age, raw=json_value, depth=st.integers(0, 400))
def test_every_built_item_serialises_or_is_a_rule_error(
    uid: str, age: Any, raw: Any, depth: int
) -> None:
    """D2/D16: whatever the event holds, the built item can be written as JSON (so it can join
    a batch) or the event gets a RuleError naming the field (so it alone is dead-lettered)."""
    value = {"user": {"id": uid, "age": age, "raw": [_nested(depth), raw]}}
    try:
        shape, _, payload = _build(_rule(), value)
    except RuleError as exc:
        assert str(exc)
        assert "attributes" in str(exc) or "$.user.age" in str(exc)
        return
    orjson.dumps(payload)
    orjson.dumps(shape.body([payload]))


@pytest.mark.parametrize(
    ("age", "raw", "reason"),
    [
        (1e300, 1, r"field \$\.user\.age: cannot convert to integer: 301-digit integer is outside"),
        ("99999999999999999999999", 1, "outside the 64-bit range"),
        ("1e999", 1, "not a finite number"),
        (1, _nested(300), r"item\.attributes\.raw[.n]+: nested deeper than 254 levels"),
        (1, 2**70, "item.attributes.raw: integer with 22 digits is outside the 64-bit range"),
    ],
)
def test_unserialisable_value_is_a_rule_error_with_the_field(
    age: Any, raw: Any, reason: str
) -> None:
    with pytest.raises(RuleError) as exc:
        _build(_rule(), {"user": {"id": "u1", "age": age, "raw": raw}})
    assert re.search(reason, str(exc.value))


def test_shadow_rule_item_is_validated_too() -> None:
    """D2 row 1c: with shadow: true the request was dumped on the poll loop (exit 1)."""
    with pytest.raises(RuleError, match="outside the 64-bit range"):
        _build(_rule(shadow=True), {"user": {"id": "u1", "age": 1e300, "raw": 1}})


def test_shared_properties_are_validated() -> None:
    rule = _rule(shared_trigger_properties={"n": "$.n"})
    rule["recipient"] = {"external_user_id": "$.user.id"}
    with pytest.raises(RuleError, match="shared trigger_properties.n: integer with 20 digits"):
        _build(rule, {"user": {"id": "u1"}, "n": 2**65})


def test_id_beyond_64_bits_says_why_it_is_a_float() -> None:
    """D16: 2**70 is read as a float; the reason says so instead of 'got float'."""
    with pytest.raises(RuleError, match="integers beyond 64 bits are read as floats"):
        _build(_rule(), {"user": {"id": float(2**70), "age": 1, "raw": 1}})


@pytest.mark.parametrize(
    ("kind", "value"),
    [("iso_time", "alice.50@victim-example.org"), ("boolean", "bob@x.org"), ("integer", "u-123")],
)
def test_conversion_reasons_never_quote_the_value(kind: str, value: str) -> None:
    """D10: the reason (logged and put in the dead letter) does not carry the value."""
    rule = _rule()
    rule["recipient"]["attributes"] = {"v": {"path": "$.v", "as": kind}}
    with pytest.raises(RuleError) as exc:
        _build(rule, {"user": {"id": "u1"}, "v": value})
    assert value not in str(exc.value)
    assert f"a string of {len(value)} characters" in str(exc.value)


# -- D3: regex conditions are linear-time -------------------------------------------------


def test_backtracking_regex_matches_in_linear_time() -> None:
    rs = compile_rules(settings([_rule(when={"$.user.id": {"regex": "^(a+)+$"}})]))
    good = event({"user": {"id": "a" * 40, "age": 1, "raw": 1}})
    assert rs.rules[0].matches(good) is True
    # Python's re: 26 characters take ~2 s, each one more doubles it (34: minutes)
    for n in (26, 100_000):
        evil = event({"user": {"id": "a" * n + "!", "age": 1, "raw": 1}})
        t0 = time.monotonic()
        assert rs.rules[0].matches(evil) is False
        assert time.monotonic() - t0 < 0.5, n


@pytest.mark.parametrize("pattern", [r"^(a)\1$", r"^(?=a)a", r"(?<!x)y"])
def test_regex_re2_cannot_compile_is_a_config_error(pattern: str) -> None:
    with pytest.raises(ConfigError) as exc:
        compile_rules(settings([_rule(when={"$.user.id": {"regex": pattern}})]), file="b.yaml")
    assert exc.value.file == "b.yaml"
    assert exc.value.field == "rules[0].when.$.user.id.regex"
    assert "RE2" in exc.value.reason


def test_regex_keeps_unicode_and_search_semantics() -> None:
    rs = compile_rules(settings([_rule(when={"$.user.id": {"regex": r"caf\p{L}$"}})]))
    assert rs.rules[0].matches(event({"user": {"id": "le café"}}))
    assert not rs.rules[0].matches(event({"user": {"id": "cafe!"}}))


# -- D13: the dedupe cache holds fixed-size digests ---------------------------------------------


def test_dedupe_memory_does_not_grow_with_id_size() -> None:
    import tracemalloc

    rs = compile_rules(settings([_rule(dedupe={"key": "$.event_id", "window": "10m"})]))
    dedupe = rs.rules[0].dedupe
    assert dedupe is not None
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(300):
            big = event({"event_id": f"{i:08d}" + "x" * 200_000})
            assert dedupe.seen(big) is False
            del big
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 1_000_000, held  # 300 x 200 KB ids: 60 MB when the ids themselves are kept
    assert dedupe.seen(event({"event_id": "00000007" + "x" * 200_000})) is True


def test_dedupe_keeps_typed_ids_apart() -> None:
    rs = compile_rules(settings([_rule(dedupe={"key": "$.event_id", "window": "10m"})]))
    dedupe = rs.rules[0].dedupe
    assert dedupe is not None
    assert [dedupe.seen(event({"event_id": v})) for v in ("1", 1, True, {"a": 1}, "1", 1)] == [
        False,
        False,
        False,
        False,
        True,
        True,
    ]


# -- D16: integers beyond 64 bits are kept exact, never silently turned into floats ----------


def _decoded(raw: bytes) -> Any:
    from bridge.decode.json import JsonDecoder
    from bridge.models import Record

    return JsonDecoder().decode(Record("orders", 0, 0, None, raw, (), 0))


def test_big_integer_property_is_refused_not_silently_rounded() -> None:
    """The sandbox received 1.2345678901234568e+29 for 123456789012345678901234567890."""
    rule = _rule(trigger_properties={"amount": "$.amount"})
    rule["recipient"] = {"external_user_id": "$.user.id"}
    value = _decoded(b'{"user": {"id": "u1"}, "amount": 123456789012345678901234567890}')
    with pytest.raises(RuleError, match="integer with 30 digits is outside the 64-bit range"):
        _build(rule, value)


def test_big_integer_user_id_is_delivered_exactly_as_a_string() -> None:
    rule = _rule()
    rule["recipient"] = {"external_user_id": "$.user.id"}
    _, _, payload = _build(rule, _decoded(b'{"user": {"id": 1180591620717411303424}}'))
    assert payload["external_user_id"] == "1180591620717411303424"


@given(st.integers(min_value=-(2**200), max_value=2**200))
def test_json_integers_of_any_size_decode_exactly(n: int) -> None:
    assert _decoded(b'{"n": %d, "s": "x"}' % n) == {"n": n, "s": "x"}
