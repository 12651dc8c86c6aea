"""Action name -> compiler."""

from __future__ import annotations

from bridge.actions.base import Builder
from bridge.actions.live_activity import compile_live_activity, compile_live_activity_start
from bridge.actions.messages import compile_message_send
from bridge.actions.schedules import compile_schedule
from bridge.actions.triggers import compile_trigger
from bridge.rules.spec import RuleSettings

ENDPOINTS = {
    "campaign_trigger": "/campaigns/trigger/send",
    "canvas_trigger": "/canvas/trigger/send",
    "campaign_schedule": "/campaigns/trigger/schedule/{create,update,delete}",
    "canvas_schedule": "/canvas/trigger/schedule/{create,update,delete}",
    "message_send": "/messages/send",
    "message_schedule": "/messages/schedule/{create,update,delete}",
    "live_activity_update": "/messages/live_activity/update",
    "live_activity_start": "/messages/live_activity/start",
}


def compile_action(rule: RuleSettings, max_recipients: int, where: str) -> Builder:
    if rule.action in ("campaign_trigger", "canvas_trigger"):
        return compile_trigger(rule, max_recipients, where)
    if rule.action in ("campaign_schedule", "canvas_schedule", "message_schedule"):
        return compile_schedule(rule, where)
    if rule.action == "message_send":
        return compile_message_send(rule, max_recipients, where)
    if rule.action == "live_activity_start":
        return compile_live_activity_start(rule, max_recipients, where)
    return compile_live_activity(rule, where)
