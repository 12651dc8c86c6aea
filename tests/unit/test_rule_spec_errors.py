"""Rule-spec errors: the compilers raise a typed RuleSpecError (field, reason) and
``compile_rules`` reports it as a ConfigError naming the file, the field and the reason.

The table pins the messages users see for each kind of bad spec the compilers refuse.
"""

from __future__ import annotations

from typing import Any

import pytest

from bridge.errors import ConfigError, RuleSpecError
from bridge.rules.conditions import compile_when
from bridge.rules.mapping import compile_value
from bridge.rules.times import compile_time
from bridge.ruleset import compile_rules

from .helpers import settings

T = {
    "name": "r",
    "topic": "orders",
    "action": "campaign_trigger",
    "campaign_id": "c1",
    "recipient": {"external_user_id": "$.user.id"},
}
MS = {
    "name": "r",
    "topic": "orders",
    "action": "message_send",
    "recipient": {"external_user_id": "$.user.id"},
    "messages": {"email": {"app_id": "a", "subject": "s", "body": "b"}},
}
SC = {
    "name": "r",
    "topic": "orders",
    "action": "campaign_schedule",
    "campaign_id": "c1",
    "recipient": {"external_user_id": "$.user.id"},
    "schedule": {"operation": "create", "key": "$.id", "time": "$.eta"},
}
BAD_RULES: dict[str, dict[str, Any]] = {
    "one_of": {**T, "when": {"type": {"one_of": "a"}}},
    "exists": {**T, "when": {"n": {"exists": 1}}},
    "gt": {**T, "when": {"n": {"gt": "soon"}}},
    "any_empty": {**T, "when": {"any": []}},
    "bad_field": {**T, "when": {"$bad": 1}},
    "not_regex": {**T, "when": {"not": {"x": {"regex": "(a)\\1"}}}},
    "nested_any": {**T, "when": {"any": [{"x": {"nope": 1}}]}},
    "unknown_ops": {**T, "when": {"x": {"nope": 1}}},
    "ref": {**T, "trigger_properties": {"a": "$.a..b"}},
    "path_keys": {**T, "trigger_properties": {"a": {"path": "$.a", "bogus": 1}}},
    "path_notref": {**T, "trigger_properties": {"a": {"path": "nope"}}},
    "path_bad": {**T, "trigger_properties": {"a": {"path": "$.a..b"}}},
    "as": {**T, "trigger_properties": {"a": {"path": "$.a", "as": "uuid"}}},
    "tmpl_unknown": {**T, "trigger_properties": {"a": {"template": "Hi {n}", "values": {}}}},
    "tmpl_type": {**T, "trigger_properties": {"a": {"template": 1}}},
    "tmpl_keys": {**T, "trigger_properties": {"a": {"template": "x", "nope": 1}}},
    "list": {**T, "trigger_properties": {"a": ["$.x", {"path": "no"}]}},
    "recipient_attr": {
        **T,
        "recipient": {"external_user_id": "$.u", "attributes": {"x": {"path": "no"}}},
    },
    "alias": {**T, "recipient": {"user_alias": {"alias_name": "$.a..", "alias_label": "l"}}},
    "attachments": {**T, "attachments": [{"file_name": "x"}]},
    "msg_unknown": {**MS, "messages": {"fax": {"x": 1}}},
    "msg_variation": {**MS, "campaign_id": "c1"},
    "sched_msg_unknown": {
        **SC,
        "action": "message_schedule",
        "campaign_id": None,
        "messages": {"whats_app": {"x": 1}},
    },
    "time_expr": {**SC, "schedule": {**SC["schedule"], "time": "$.eta - 2x"}},
    "time_offset": {
        **SC,
        "schedule": {**SC["schedule"], "time": {"path": "$.eta", "offset": "soon"}},
    },
    "time_in": {**SC, "schedule": {**SC["schedule"], "time": {"in": "soon"}}},
    "time_const": {**SC, "schedule": {**SC["schedule"], "time": "not a time"}},
    "time_keys": {**SC, "schedule": {**SC["schedule"], "time": {"path": "$.eta", "foo": 1}}},
    "time_path": {**SC, "schedule": {**SC["schedule"], "time": {"path": "$.a..b"}}},
    "sched_key": {**SC, "schedule": {**SC["schedule"], "key": "$.a..b"}},
    "dedupe": {**T, "dedupe": {"key": "$.a..b", "window": "1h"}},
    "dedupe_window": {**T, "dedupe": {"key": "$.a", "window": "soon"}},
    "la_date": {
        "name": "r",
        "topic": "orders",
        "action": "live_activity_update",
        "live_activity": {
            "app_id": "a",
            "activity_id": "$.id",
            "content_state": {},
            "dismissal_date": "$.x - 3y",
        },
    },
}

EXPECTED = [
    ("one_of", "rules[0].when.type.one_of", "needs a list"),
    ("exists", "rules[0].when.n.exists", "needs true or false"),
    ("gt", "rules[0].when.n.gt", "needs a number or an ISO-8601 time"),
    ("any_empty", "rules[0].when.any", "needs a non-empty list of conditions"),
    ("bad_field", "rules[0].when.$bad", "'$bad' is not a valid field reference"),
    (
        "not_regex",
        "rules[0].when.not.x.regex",
        "invalid escape sequence: \\1 (regex conditions use RE2, which matches in linear "
        "time and has no backreferences or lookaround)",
    ),
    (
        "nested_any",
        "rules[0].when.any[0].x",
        "unknown operator(s) nope (known: contains, equals, exists, gt, gte, lt, lte, "
        "not_equals, not_one_of, one_of, prefix, regex, suffix; compare to an object "
        "with {equals: ...})",
    ),
    (
        "unknown_ops",
        "rules[0].when.x",
        "unknown operator(s) nope (known: contains, equals, exists, gt, gte, lt, lte, "
        "not_equals, not_one_of, one_of, prefix, regex, suffix; compare to an object "
        "with {equals: ...})",
    ),
    ("ref", "rules[0].trigger_properties.a", "'$.a..b': cannot parse at position 3 ('..b')"),
    ("path_keys", "rules[0].trigger_properties.a", "unknown keys bogus"),
    (
        "path_notref",
        "rules[0].trigger_properties.a.path",
        "'nope' is not a field reference like $.a.b",
    ),
    (
        "path_bad",
        "rules[0].trigger_properties.a.path",
        "'$.a..b': cannot parse at position 3 ('..b')",
    ),
    (
        "as",
        "rules[0].trigger_properties.a.as",
        "unknown conversion 'uuid' (string, number, integer, boolean, iso_time, epoch_millis)",
    ),
    (
        "tmpl_unknown",
        "rules[0].trigger_properties.a.template",
        "{n} has no entry in values (Liquid uses double braces and is left alone)",
    ),
    (
        "tmpl_type",
        "rules[0].trigger_properties.a",
        "template must be a string and values a mapping",
    ),
    ("tmpl_keys", "rules[0].trigger_properties.a", "unknown keys nope"),
    ("list", "rules[0].trigger_properties.a[1].path", "'no' is not a field reference like $.a.b"),
    (
        "recipient_attr",
        "rules[0].recipient.attributes.x.path",
        "'no' is not a field reference like $.a.b",
    ),
    (
        "alias",
        "rules[0].recipient.user_alias.alias_name",
        "'$.a..': cannot parse at position 3 ('..')",
    ),
    ("attachments", "rules[0].attachments", "attachments[0] must be exactly {file_name, url}"),
    (
        "msg_unknown",
        "rules[0].messages.fax",
        "not a messaging object of this endpoint (Braze documents: android_push, "
        "apple_push, content_card, email, kindle_push, sms, web_push, webhook, whats_app)",
    ),
    (
        "msg_variation",
        "rules[0].messages.email",
        "needs message_variation_id because the rule has campaign_id (Braze: 400 Message "
        "Variant Unspecified)",
    ),
    (
        "sched_msg_unknown",
        "rules[0].messages.whats_app",
        "not a messaging object of this endpoint (Braze documents: android_push, "
        "apple_push, content_card, email, kindle_push, sms, web_push, webhook)",
    ),
    ("time_expr", "rules[0].schedule.time", "'$.eta - 2x' is not like '$.eta' or '$.eta - 2h'"),
    (
        "time_offset",
        "rules[0].schedule.time.offset",
        "'soon' is not a duration like 2h, -30m, 90s, 1d",
    ),
    ("time_in", "rules[0]", "'soon' is not a duration like 2h, -30m, 90s, 1d"),
    ("time_const", "rules[0].schedule.time", "Invalid isoformat string: 'not a time'"),
    ("time_keys", "rules[0].schedule.time", "expected {path, offset} or {in}"),
    ("time_path", "rules[0].schedule.time", "'$.a..b': cannot parse at position 3 ('..b')"),
    ("sched_key", "rules[0].schedule.key", "'$.a..b': cannot parse at position 3 ('..b')"),
    ("dedupe", "rules[0].dedupe", "'$.a..b': cannot parse at position 3 ('..b')"),
    ("dedupe_window", "rules[0].dedupe", "'soon' is not a duration like 2h, -30m, 90s, 1d"),
    (
        "la_date",
        "rules[0].live_activity.dismissal_date",
        "'$.x - 3y' is not like '$.eta' or '$.eta - 2h'",
    ),
]


@pytest.mark.parametrize(("case", "field", "reason"), EXPECTED, ids=[c for c, _, _ in EXPECTED])
def test_bad_rule_spec_names_file_field_and_reason(case: str, field: str, reason: str) -> None:
    rule = {k: v for k, v in BAD_RULES[case].items() if v is not None}
    with pytest.raises(ConfigError) as exc:
        compile_rules(settings([rule]), "f.yaml")
    assert (exc.value.file, exc.value.field, exc.value.reason) == ("f.yaml", field, reason)
    assert str(exc.value) == f"f.yaml: {field}: {reason}"


def test_every_bad_rule_is_pinned() -> None:
    assert sorted(BAD_RULES) == sorted(c for c, _, _ in EXPECTED)


def test_a_key_holding_colon_space_stays_in_the_field() -> None:
    """The field is carried, not recovered from the message: a mapping key with ": " in it
    no longer moves part of the field into the reason."""
    rule = {**T, "trigger_properties": {"a: b": "$.a..b"}}
    with pytest.raises(ConfigError) as exc:
        compile_rules(settings([rule]), "f.yaml")
    assert exc.value.field == "rules[0].trigger_properties.a: b"
    assert exc.value.reason == "'$.a..b': cannot parse at position 3 ('..b')"
    assert str(exc.value) == (
        "f.yaml: rules[0].trigger_properties.a: b: '$.a..b': cannot parse at position 3 ('..b')"
    )


def test_a_later_rule_is_named_by_its_index() -> None:
    good = {**T, "name": "ok"}
    with pytest.raises(ConfigError) as exc:
        compile_rules(settings([good, {**T, "when": {"n": {"exists": 1}}}]), "f.yaml")
    assert exc.value.field == "rules[1].when.n.exists"


@pytest.mark.parametrize(
    ("compile_", "field", "reason"),
    [
        (
            lambda: compile_when({"n": {"gt": "soon"}}),
            "when.n.gt",
            "needs a number or an ISO-8601 time",
        ),
        (lambda: compile_when({"$bad": 1}), "when.$bad", "'$bad' is not a valid field reference"),
        (
            lambda: compile_value({"path": "$.a", "x": 1}, "tp.a", "r"),
            "tp.a",
            "unknown keys x",
        ),
        (
            lambda: compile_time({"path": "$.eta", "offset": "soon"}, "t", "r"),
            "t.offset",
            "'soon' is not a duration like 2h, -30m, 90s, 1d",
        ),
    ],
)
def test_compilers_raise_typed_errors_that_are_value_errors(
    compile_: Any, field: str, reason: str
) -> None:
    with pytest.raises(RuleSpecError) as exc:
        compile_()
    assert (exc.value.field, exc.value.reason) == (field, reason)
    assert isinstance(exc.value, ValueError)  # callers of a bare compiler catch ValueError
    assert str(exc.value) == f"{field}: {reason}"
