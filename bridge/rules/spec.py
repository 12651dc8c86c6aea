"""The rule model: what a product team writes in ``rules:``.

Values inside rules are mapping specs (field references like ``$.order.id``, constants,
``{path: ..., default: ...}``), compiled by :mod:`bridge.rules.mapping`.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bridge.rules.shape import check_shape


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


ActionName = Literal[
    "campaign_trigger",
    "canvas_trigger",
    "campaign_schedule",
    "canvas_schedule",
    "message_send",
    "message_schedule",
    "live_activity_update",
    "live_activity_start",
]
Prioritization = Literal[
    "identified", "unidentified", "most_recently_updated", "least_recently_updated"
]


class RecipientSettings(_Model):
    """Who receives the message: exactly one identifier, each a field reference or constant."""

    external_user_id: Any = None
    user_alias: dict[str, Any] | None = Field(None, description="{alias_name, alias_label}")
    email: Any = None
    prioritization: list[Prioritization] | None = None
    braze_id: Any = None
    attributes: dict[str, Any] | None = None
    send_to_existing_only: bool | None = None
    choose: Literal["one", "first_present"] = Field(
        "one",
        description="one: exactly one identifier; first_present: several identifiers, the first "
        "present in the event is used (order: external_user_id, user_alias, email, braze_id)",
    )

    @model_validator(mode="after")
    def _one_identifier(self) -> RecipientSettings:
        ids = [
            n
            for n in ("external_user_id", "user_alias", "email", "braze_id")
            if getattr(self, n) is not None
        ]
        if self.choose == "first_present":
            if len(ids) < 2:
                raise ValueError("choose: first_present needs at least two identifiers")
        elif len(ids) != 1:
            raise ValueError(
                "exactly one of external_user_id, user_alias, email, braze_id is required"
                + (f" (got {', '.join(ids)})" if ids else "")
            )
        if self.email is not None and not self.prioritization:
            raise ValueError("email needs prioritization, e.g. [identified, most_recently_updated]")
        if self.prioritization and {"identified", "unidentified"} <= set(self.prioritization):
            raise ValueError("prioritization may name only one of identified/unidentified")
        if self.user_alias is not None and set(self.user_alias) != {"alias_name", "alias_label"}:
            raise ValueError("user_alias needs exactly alias_name and alias_label")
        if self.send_to_existing_only is False:
            if self.user_alias is not None:
                raise ValueError("send_to_existing_only: false cannot be used with user_alias")
            if not self.attributes:
                raise ValueError("send_to_existing_only: false needs attributes")
        return self


class ScheduleSettings(_Model):
    """A scheduled send keyed by a business key from the event (e.g. the order id).

    ``operation: create`` schedules (and, if the key already has a schedule, moves it);
    ``update`` moves the schedule of that key; ``delete`` cancels it. Rules of the same
    lifecycle share ``name`` (default: the name of the creating rule).
    """

    name: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    key: Any = Field(description="Business key, e.g. $.order.id")
    operation: Literal["create", "update", "delete"] = "create"
    time: Any = Field(
        None,
        description="When: $.field, '$.eta - 2h', {path: $.eta, offset: -2h}, {in: 30m}, "
        "or an ISO-8601 constant",
    )
    in_local_time: bool = False
    at_optimal_time: bool = False
    company_time_zone: str | None = Field(
        None,
        description="IANA zone of the Braze company (e.g. Europe/Berlin): with in_local_time, "
        "refuse a time that has passed there (Braze's errors page) instead of only one that "
        "has passed in every zone (its schedule object page; the default)",
    )

    @field_validator("company_time_zone")
    @classmethod
    def _zone(cls, v: str | None) -> str | None:
        if v is not None:
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                ZoneInfo(v)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown time zone {v!r}") from exc
        return v

    @model_validator(mode="after")
    def _time(self) -> ScheduleSettings:
        # An update without time is allowed for message_schedule with new messages only
        # (checked by RuleSettings, which knows the messages).
        if self.operation == "create" and self.time is None:
            raise ValueError(f"schedule {self.operation} needs time")
        if self.operation == "delete" and self.time is not None:
            raise ValueError("schedule delete takes no time")
        if self.in_local_time and self.at_optimal_time:
            raise ValueError(
                "choose in_local_time or at_optimal_time, not both (the bridge's rule: Braze "
                "does not say what both together mean)"
            )
        return self


class LiveActivitySettings(_Model):
    """POST /messages/live_activity/update, one request per event."""

    app_id: Any
    activity_id: Any
    content_state: Any
    end_activity: Any = None
    dismissal_date: Any = None
    stale_date: Any = None
    notification: Any = None


class LiveActivityStartSettings(_Model):
    """POST /messages/live_activity/start (push-to-start): who gets it comes from the rule's
    ``recipient`` (external_user_id, batched up to 50), ``segment_id`` or ``audience``."""

    app_id: Any
    activity_id: Any
    activity_attributes_type: Any
    activity_attributes: Any
    content_state: Any
    notification: Any = Field(description="apple_push object (Braze: required)")
    dismissal_date: Any = None
    stale_date: Any = None


class DedupeSettings(_Model):
    """Drop an event whose id this replica already saw within ``window`` (producer retries)."""

    key: Any = Field(description="Event id, e.g. $.event_id or $key")
    window: str = Field("10m", description="Duration: 90s, 10m, 1h, 1d")
    max_keys: int = Field(100_000, ge=1, description="Memory bound: oldest ids are forgotten")


class RuleSettings(_Model):
    """One rule: which events (topic + conditions) cause which Braze call."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    topic: str = Field(description="Topic name, or a regular expression starting with ^")
    when: dict[str, Any] = Field(default_factory=dict, description="Conditions on event fields")
    action: ActionName
    campaign_id: str | None = None
    canvas_id: str | None = None
    send_id: str | None = Field(None, max_length=64)
    generate_send_id: bool = Field(
        False,
        description="Instead of a named send_id: let Braze generate one (POST /sends/id/create "
        "without send_id) at the first start-up, remember it in the state topic, and send it "
        "with this rule's requests",
    )
    recipient: RecipientSettings | None = None
    trigger_properties: dict[str, Any] | None = Field(
        None, description="Per-recipient trigger_properties (campaigns)"
    )
    shared_trigger_properties: dict[str, Any] | None = Field(
        None, description="Top-level trigger_properties for every recipient of a request"
    )
    context: dict[str, Any] | None = Field(None, description="Per-recipient context (Canvases)")
    shared_context: dict[str, Any] | None = Field(
        None, description="Top-level context for every recipient of a request"
    )
    context_field: Literal["context", "canvas_entry_properties"] = "context"
    audience: dict[str, Any] | None = Field(
        None,
        description="Connected audience: alone, a broadcast (needs allow_broadcast); with a "
        "recipient, a filter on the named users (not a broadcast)",
    )
    segment_id: Any = Field(
        None,
        description="Dashboard segment (message_send, message_schedule, live_activity_start): "
        "alone, a broadcast (needs allow_broadcast); with a recipient, a filter",
    )
    attachments: Any = Field(
        None,
        description="campaign_trigger only: email attachments, a list of {file_name, url} "
        "(each a field reference or constant), or a reference to such a list",
    )
    allow_broadcast: bool = Field(
        False, description="Guard: required for audience/broadcast rules (no recipients)"
    )
    schedule: ScheduleSettings | None = None
    messages: dict[str, Any] | None = Field(
        None, description="Inline message objects for message_send/message_schedule"
    )
    override_frequency_capping: bool | None = None
    recipient_subscription_state: Literal["opted_in", "subscribed", "all"] | None = None
    live_activity: LiveActivitySettings | None = None
    live_activity_start: LiveActivityStartSettings | None = None
    dedupe: DedupeSettings | None = None
    workspace: str | None = Field(
        None,
        description="braze.workspaces name this rule sends to (default: the only workspace, "
        "or the one named 'default')",
    )
    shadow: bool = Field(
        False,
        description="Map and batch, but record the requests (log, kafka.shadow_topic) "
        "instead of sending them: run a new rule beside production first",
    )
    priority: Literal["transactional", "bulk"] | int = Field(
        "transactional",
        description="transactional (default) or bulk, or 0-100 (higher first; below 50 is "
        "bulk): bulk spends the budget only down to delivery.bulk_floor and is sent after "
        "queued transactional work",
    )
    enabled: bool = True

    @field_validator("priority")
    @classmethod
    def _priority(cls, v: str | int) -> str | int:
        if isinstance(v, int) and not 0 <= v <= 100:
            raise ValueError("priority is transactional, bulk or a number from 0 to 100")
        return v

    @field_validator("topic")
    @classmethod
    def _topic(cls, v: str) -> str:
        if v.startswith("^"):
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"invalid topic pattern: {exc}") from exc
        return v

    @model_validator(mode="after")
    def _shape(self) -> RuleSettings:
        check_shape(self)
        return self
