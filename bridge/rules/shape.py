"""Which fields each rule action takes: the cross-field checks of a rule, section by section.

Each check raises ``ValueError`` with the message pydantic shows under the rule; they run in
a fixed order (:func:`check_shape`), so a rule with several mistakes reports the same one
first every time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bridge.rules.spec import RuleSettings

SCHEDULE_ACTIONS = ("campaign_schedule", "canvas_schedule", "message_schedule")
CAMPAIGN_LIKE = ("campaign_trigger", "campaign_schedule")
CANVAS_LIKE = ("canvas_trigger", "canvas_schedule")
MESSAGE_LIKE = ("message_send", "message_schedule")
SEND_ID_ACTIONS = ("campaign_trigger", "campaign_schedule", "message_send", "message_schedule")
SEGMENT_ACTIONS = ("message_send", "message_schedule", "live_activity_start")


def check_shape(r: RuleSettings) -> None:
    """Every cross-field check of one rule, in the order their errors take precedence."""
    _campaign_or_canvas(r)
    _send_id(r)
    _schedule_block(r)
    _messages(r)
    _segment_and_attachments(r)
    if _live_activity(r):
        return  # live_activity_update: no recipient, audience or schedule to check
    _broadcast(r)
    _schedule_operation(r)


def _campaign_or_canvas(r: RuleSettings) -> None:
    """Campaign actions take campaign_id and trigger properties; Canvas actions canvas_id and
    context; neither takes the other's."""
    a = r.action
    campaign_like = a in CAMPAIGN_LIKE
    canvas_like = a in CANVAS_LIKE
    if campaign_like and not r.campaign_id:
        raise ValueError(f"{a} needs campaign_id")
    if canvas_like and not r.canvas_id:
        raise ValueError(f"{a} needs canvas_id")
    if not canvas_like and (r.context or r.shared_context or r.canvas_id):
        raise ValueError(f"{a} takes no canvas_id/context (Canvas actions only)")
    if not campaign_like and (r.trigger_properties or r.shared_trigger_properties):
        raise ValueError(f"{a} takes no trigger_properties (campaign actions only)")
    if canvas_like and (r.campaign_id or r.send_id):
        raise ValueError(f"{a} takes canvas_id and context, not campaign_id/send_id")


def _send_id(r: RuleSettings) -> None:
    """A named send_id or ``generate_send_id``: one of them, with a campaign_id."""
    if r.send_id is not None and not r.send_id.isascii():
        raise ValueError("send_id must be ASCII (at most 64 characters)")
    if r.send_id is not None and not r.campaign_id:
        raise ValueError("send_id needs campaign_id (Braze creates send ids per campaign)")
    if not r.generate_send_id:
        return
    if r.send_id is not None:
        raise ValueError("choose send_id or generate_send_id, not both")
    if not r.campaign_id or r.action not in SEND_ID_ACTIONS:
        raise ValueError(
            "generate_send_id needs campaign_id (Braze creates send ids per campaign) "
            "on campaign_trigger, campaign_schedule, message_send or message_schedule"
        )
    if r.schedule is not None and r.schedule.operation != "create":
        raise ValueError("generate_send_id is for sends and schedule creates")


def _schedule_block(r: RuleSettings) -> None:
    """Schedule actions, and only they, have a ``schedule`` block."""
    a = r.action
    if (a in SCHEDULE_ACTIONS) != (r.schedule is not None):
        raise ValueError(
            f"{a} needs a schedule block"
            if a in SCHEDULE_ACTIONS
            else f"{a} takes no schedule block"
        )


def _messages(r: RuleSettings) -> None:
    """``messages`` belong to /messages/* actions, whose recipients are user ids or aliases."""
    a = r.action
    if a not in MESSAGE_LIKE:
        if r.messages is not None:
            raise ValueError(f"{a} takes no messages")
        return
    if r.messages is None and not (r.schedule is not None and r.schedule.operation != "create"):
        raise ValueError(f"{a} needs messages (inline message objects)")
    if r.recipient is not None and (
        r.recipient.email is not None
        or r.recipient.braze_id is not None
        or r.recipient.attributes is not None
    ):
        raise ValueError(f"{a} recipients are external_user_id or user_alias only")


def _segment_and_attachments(r: RuleSettings) -> None:
    """segment_id only where Braze documents it; attachments on targeted campaign triggers."""
    a = r.action
    if r.segment_id is not None and a not in SEGMENT_ACTIONS:
        raise ValueError(
            f"{a} takes no segment_id (Braze documents it on /messages/* only; add the "
            "segment to the campaign or Canvas in the dashboard instead)"
        )
    if r.attachments is not None and a != "campaign_trigger":
        raise ValueError(f"{a} takes no attachments (campaign_trigger only)")
    if r.attachments is not None and r.recipient is None:
        raise ValueError("attachments cannot be combined with a broadcast (Braze)")


def _live_activity(r: RuleSettings) -> bool:
    """The live-activity blocks; True for ``live_activity_update``, which has nothing else
    to check."""
    a = r.action
    if (a == "live_activity_start") != (r.live_activity_start is not None):
        raise ValueError(
            "live_activity_start needs a live_activity_start block"
            if a == "live_activity_start"
            else f"{a} takes no live_activity_start block"
        )
    if a == "live_activity_start":
        _live_activity_start(r)
    if a == "live_activity_update":
        if r.live_activity is None:
            raise ValueError("live_activity_update needs a live_activity block")
        if r.recipient is not None or r.audience is not None:
            raise ValueError("live_activity_update has no recipient or audience")
        return True
    if r.live_activity is not None:
        raise ValueError(f"{a} takes no live_activity block")
    return False


def _live_activity_start(r: RuleSettings) -> None:
    """Push-to-start goes to external user ids, a segment or an audience: one of them."""
    if r.live_activity is not None:
        raise ValueError("live_activity_start takes no live_activity block")
    if r.recipient is not None and (
        r.recipient.external_user_id is None or r.recipient.choose != "one"
    ):
        raise ValueError("live_activity_start recipients are external_user_id only")
    given = [
        n
        for n, v in (
            ("recipient", r.recipient),
            ("segment_id", r.segment_id),
            ("audience", r.audience),
        )
        if v is not None
    ]
    if len(given) > 1:
        raise ValueError(
            "live_activity_start takes one of recipient, segment_id, audience "
            f"(got {', '.join(given)})"
        )


def _broadcast(r: RuleSettings) -> None:
    """A rule without a recipient is a broadcast: only with ``allow_broadcast`` and an
    audience or segment (never Braze's whole-segment send); with one, no ``allow_broadcast``."""
    a = r.action
    creates = r.schedule is None or r.schedule.operation == "create"
    targeted = r.audience is not None or r.segment_id is not None
    if r.recipient is None and targeted and not r.allow_broadcast:
        raise ValueError(
            "audience/segment_id without a recipient is a broadcast: set allow_broadcast: true"
        )
    if creates and r.recipient is None and not r.allow_broadcast:
        raise ValueError(f"{a} needs a recipient (or audience with allow_broadcast: true)")
    if creates and r.recipient is None and not targeted:
        segment = " or segment_id" if a in MESSAGE_LIKE or a == "live_activity_start" else ""
        raise ValueError(
            "allow_broadcast without audience"
            + segment
            + " would send to the whole segment of the campaign or Canvas (Braze's "
            "whole-segment broadcast), which the bridge does not do: add an audience"
            + segment
            + ", or a recipient"
        )
    if r.recipient is not None and r.allow_broadcast:
        raise ValueError(
            "allow_broadcast is for rules without a recipient; with a recipient, "
            "audience/segment_id only filter the named users"
        )


def _schedule_operation(r: RuleSettings) -> None:
    """Updates and deletes of a schedule name no recipients or audience; an update moves
    the time (or, for message_schedule, replaces the messages)."""
    s = r.schedule
    if s is None or s.operation == "create":
        return
    a = r.action
    if r.recipient is not None or r.messages is not None and a != "message_schedule":
        raise ValueError(f"schedule {s.operation} takes no recipient")
    if r.audience is not None or r.segment_id is not None:
        raise ValueError(f"schedule {s.operation} takes no audience/segment_id")
    if s.operation == "update" and s.time is None:
        if a != "message_schedule" or r.messages is None:
            raise ValueError(
                "schedule update needs time" + (" or messages" if a == "message_schedule" else "")
            )
