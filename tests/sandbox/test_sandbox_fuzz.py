"""Property test: generated JSON bodies never make the sandbox answer 5xx (D17 fuzz findings).

The bodies are shaped like Braze requests - the endpoints' own field names, recipients,
schedules, audiences and messaging objects - holding arbitrary JSON values, so the
validators see every wrong type in every place. The request goes through `SandboxApp.handle`
(the HTTP server turns an exception there into a 500), with no fault injected.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.sandbox.app import SandboxApp
from bridge.sandbox.endpoints import ENDPOINTS
from bridge.sandbox.options import SandboxOptions

KEY = "fuzz-key"
HEADERS = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}

FIELDS = [
    "campaign_id", "canvas_id", "send_id", "broadcast", "recipients", "audience", "segment_id",
    "trigger_properties", "context", "canvas_entry_properties", "attachments", "schedule",
    "schedule_id", "external_user_ids", "user_aliases", "messages", "override_frequency_capping",
    "override_messaging_limits", "recipient_subscription_state", "app_id", "activity_id",
    "content_state", "end_activity", "dismissal_date", "stale_date", "notification",
    "activity_attributes_type", "activity_attributes", "custom_audience",
]  # fmt: skip
RECIPIENT_FIELDS = [
    "external_user_id", "user_alias", "email", "braze_id", "prioritization",
    "send_to_existing_only", "attributes", "trigger_properties", "context",
    "canvas_entry_properties",
]  # fmt: skip
SCHEDULE_FIELDS = ["time", "in_local_time", "at_optimal_time"]
MESSAGE_KEYS = ["email", "apple_push", "android_push", "sms", "webhook", "content_card"]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["2030-01-01T00:00:00", "2030-01-01T00:00:00Z", "opted_in", "AND", "x"])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


def shaped(fields: list[str], values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(fields), values, max_size=len(fields))


recipient = shaped(RECIPIENT_FIELDS, json_values)
schedule = shaped(SCHEDULE_FIELDS, json_values)
audience = st.recursive(
    shaped(
        [
            "custom_attribute",
            "push_subscription_status",
            "email_subscription_status",
            "last_used_app",
        ],
        shaped(["custom_attribute_name", "comparison", "value"], json_values),
    ),
    lambda inner: st.dictionaries(st.sampled_from(["AND", "OR"]), st.lists(inner, max_size=3)),
    max_leaves=6,
)
messages = st.dictionaries(
    st.sampled_from(MESSAGE_KEYS), shaped(["message_variation_id", "extra", "alert"], json_values)
)
field_value = (
    json_values
    | st.lists(recipient, max_size=3)
    | schedule
    | audience
    | messages
    | st.lists(json_values, max_size=3)
)
bodies = shaped(FIELDS, field_value) | json_values

AUD = {"email_subscription_status": {"comparison": "is", "value": "opted_in"}}
SCHED = {"time": "2031-01-01T10:00:00"}
EMAIL = {"email": {"app_id": "a", "body": "x", "message_variation_id": "v"}}
LIVE = {"app_id": "a", "activity_id": "x", "content_state": {}}
LIVE_START = {
    **LIVE,
    "activity_attributes_type": "T",
    "activity_attributes": {},
    "notification": {},
    "external_user_ids": ["u"],
}
RECIPIENTS = {"recipients": [{"external_user_id": "u", "trigger_properties": {}}]}
VALID: dict[str, dict[str, Any]] = {
    "/campaigns/trigger/send": {"campaign_id": "c", **RECIPIENTS},
    "/canvas/trigger/send": {"canvas_id": "k", **RECIPIENTS},
    "/messages/send": {"campaign_id": "c", "external_user_ids": ["u"], "messages": EMAIL},
    "/campaigns/trigger/schedule/create": {"campaign_id": "c", **RECIPIENTS, "schedule": SCHED},
    "/canvas/trigger/schedule/create": {"canvas_id": "k", **RECIPIENTS, "schedule": SCHED},
    "/messages/schedule/create": {"segment_id": "s", "broadcast": True, "messages": EMAIL,
                                  "schedule": SCHED},
    "/sends/id/create": {"campaign_id": "c", "send_id": "s"},
    "/messages/live_activity/update": LIVE,
    "/messages/live_activity/start": LIVE_START,
}  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn, path: str) -> Any:
    """A valid body of `path` with one field (top level, in a recipient, in the schedule or
    in a messaging object) replaced by an arbitrary value - or an arbitrary shaped body."""
    base = VALID.get(path)
    if base is None or draw(st.integers(0, 3)) == 0:
        return draw(bodies)
    body = orjson.loads(orjson.dumps(base))
    where = draw(st.sampled_from(["top", "recipient", "schedule", "message", "audience"]))
    value = draw(field_value)
    if where == "recipient" and "recipients" in body:
        body["recipients"][0][draw(st.sampled_from(RECIPIENT_FIELDS))] = value
    elif where == "schedule" and "schedule" in body:
        body["schedule"][draw(st.sampled_from(SCHEDULE_FIELDS))] = value
    elif where == "message" and "messages" in body:
        body["messages"]["email"][draw(st.sampled_from(["message_variation_id", "extra"]))] = value
    elif where == "audience":
        body["audience"] = {"custom_attribute": {"custom_attribute_name": "a", "comparison": value,
                                                 "value": value}}  # fmt: skip
    else:
        body[draw(st.sampled_from(FIELDS))] = value
    return body


@pytest.fixture(scope="module")
def app() -> SandboxApp:
    # a known-variation fault map exercises the variation checks; no fault answers are active
    opts = SandboxOptions(api_key=KEY, faults={"message_variations": {"c": ["v"]}})
    return SandboxApp(opts)


@pytest.mark.parametrize("path", sorted(ENDPOINTS))
@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_no_5xx_for_any_json_body(app: SandboxApp, path: str, data: st.DataObject) -> None:
    body = data.draw(mutated(path))
    app.pools.reset()  # never 429 because of the example count
    ep = ENDPOINTS[path]
    raw = orjson.dumps(body)
    target = path
    if ep.method == "GET":
        end = body.get("schedule") if isinstance(body, dict) else body
        target = f"{path}?end_time={orjson.dumps(end).decode()}"
        raw = b""
    resp = app.handle(ep.method, target, HEADERS, raw)
    assert resp.status < 500, (path, body, resp.body)


WRONG_TYPES: list[Any] = [
    None, True, False, 0, -1, 2**70, 1.5, "", "x", "2030-01-01", [], [1], [None], [[]], [{}],
    {}, {"a": 1}, {"AND": []}, ["opted_in"],
]  # fmt: skip


def _places(body: dict[str, Any]) -> list[tuple[str, ...]]:
    """Every place a wrong value can go: each top-level field, and each field of the nested
    recipient, schedule, messaging object and audience filter."""
    places: list[tuple[str, ...]] = [(f,) for f in FIELDS]
    if "recipients" in body:
        places += [("recipients", "0", f) for f in RECIPIENT_FIELDS]
    if "schedule" in body:
        places += [("schedule", f) for f in SCHEDULE_FIELDS]
    if "messages" in body:
        places += [("messages", "email", f) for f in ("message_variation_id", "extra", "app_id")]
    places += [("audience", "custom_attribute", f) for f in ("comparison", "value")]
    return places


def _put(body: dict[str, Any], place: tuple[str, ...], value: Any) -> None:
    node: Any = body
    for key in place[:-1]:
        if key == "audience" and key not in node:
            node[key] = {"custom_attribute": {"custom_attribute_name": "a", "comparison": "equals"}}
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[place[-1]] = value


@pytest.mark.parametrize("path", sorted(VALID))
def test_every_field_with_every_wrong_type(app: SandboxApp, path: str) -> None:
    """The deterministic half: each place of a valid body gets each wrong-typed value."""
    ep = ENDPOINTS[path]
    base = VALID[path]
    for place in _places(base):
        for value in WRONG_TYPES:
            body = orjson.loads(orjson.dumps(base))
            _put(body, place, value)
            app.pools.reset()
            raw = json.dumps(body).encode()  # stdlib: also writes integers beyond 64 bits
            resp = app.handle(ep.method, path, HEADERS, raw)
            assert resp.status < 500, (path, place, value, resp.body)


ADMIN = ["/_sandbox/config", "/_sandbox/faults"]


@pytest.mark.parametrize("path", ADMIN)
@settings(max_examples=60, deadline=None, database=None)
@given(body=st.dictionaries(st.text(max_size=20), json_values) | json_values)
def test_admin_bodies_never_5xx(path: str, body: Any) -> None:
    app = SandboxApp(SandboxOptions(api_key=KEY))
    resp = app.handle("POST", path, HEADERS, orjson.dumps(body))
    assert resp.status < 500, (path, body, resp.body)
    if resp.status >= 400:  # a refused change changes nothing
        assert app.opts == SandboxOptions(api_key=KEY)
