"""The Braze endpoints the sandbox serves: path → method, handler, pool and error key (§3)."""

from __future__ import annotations

from bridge.sandbox import ratelimit as rl
from bridge.sandbox.broadcasts import scheduled_broadcasts
from bridge.sandbox.context import Endpoint
from bridge.sandbox.live_activity import live_activity_start, live_activity_update
from bridge.sandbox.messages import messages_send
from bridge.sandbox.schedules import (
    campaign_schedule_create,
    campaign_schedule_delete,
    campaign_schedule_update,
    canvas_schedule_create,
    canvas_schedule_delete,
    canvas_schedule_update,
    messages_schedule_create,
    messages_schedule_delete,
    messages_schedule_update,
)
from bridge.sandbox.send_ids import sends_id_create
from bridge.sandbox.triggers import campaign_send, canvas_send

ENDPOINTS: dict[str, Endpoint] = {
    "/campaigns/trigger/send": Endpoint("POST", campaign_send, True),
    "/canvas/trigger/send": Endpoint("POST", canvas_send, True),
    "/messages/send": Endpoint("POST", messages_send, True),
    "/campaigns/trigger/schedule/create": Endpoint("POST", campaign_schedule_create, True),
    "/campaigns/trigger/schedule/update": Endpoint("POST", campaign_schedule_update),
    "/campaigns/trigger/schedule/delete": Endpoint("POST", campaign_schedule_delete),
    "/canvas/trigger/schedule/create": Endpoint("POST", canvas_schedule_create, True),
    "/canvas/trigger/schedule/update": Endpoint("POST", canvas_schedule_update),
    "/canvas/trigger/schedule/delete": Endpoint("POST", canvas_schedule_delete),
    "/messages/schedule/create": Endpoint("POST", messages_schedule_create),
    "/messages/schedule/update": Endpoint("POST", messages_schedule_update),
    "/messages/schedule/delete": Endpoint("POST", messages_schedule_delete),
    "/sends/id/create": Endpoint("POST", sends_id_create, pool=rl.SENDS_ID),
    "/messages/live_activity/update": Endpoint("POST", live_activity_update, error_key="error"),
    "/messages/live_activity/start": Endpoint("POST", live_activity_start, error_key="error"),
    "/messages/scheduled_broadcasts": Endpoint("GET", scheduled_broadcasts),
}
