"""`/campaigns/trigger/send` and `/canvas/trigger/send`, and the body checks they share with
their schedule-create endpoints (properties, recipients, audience, broadcast)."""

from __future__ import annotations

from typing import Any

from bridge.sandbox import targets
from bridge.sandbox.audience import check_optional_audience
from bridge.sandbox.context import Ctx, Outcome
from bridge.sandbox.fields import Invalid, check_properties, require_str
from bridge.sandbox.recipients import check_recipients, check_targeting

NOTICE_PAUSED = (
    "The Canvas is paused. Resume the Canvas to ensure trigger requests will take effect."
)
NOTICE_ARCHIVED = (
    "The Canvas is archived. Unarchive the Canvas to ensure trigger requests will take effect."
)
CANVAS_PROPS = ("context", "canvas_entry_properties")
CAMPAIGN_PROPS = ("trigger_properties",)


def _attachments(body: dict[str, Any], broadcast: bool) -> None:
    att = body.get("attachments")
    if att is None:
        return
    if broadcast:
        raise Invalid("attachments cannot be combined with broadcast: true")
    if not isinstance(att, list):
        raise Invalid("attachments must be an array of {file_name, url} objects")
    for i, item in enumerate(att):
        if not isinstance(item, dict):
            raise Invalid(f"attachments[{i}] must be an object")
        require_str(item, "file_name", f"attachments[{i}].")
        require_str(item, "url", f"attachments[{i}].")


def check_trigger(ctx: Ctx, body: dict[str, Any], props: tuple[str, ...]) -> tuple[int, bool]:
    """Shared part of the campaign/canvas trigger send and schedule-create bodies."""
    for key in props:
        check_properties(body, key, sizes=ctx.sizes)
    n = check_recipients(body, props, ctx.sizes)
    check_optional_audience(body)
    broadcast = check_targeting(body, n, "recipients", require_flag=ctx.opts.require_broadcast_flag)
    return n or 0, broadcast


def campaign_send(ctx: Ctx, body: dict[str, Any], _q: dict[str, str]) -> Outcome:
    cid = targets.campaign_id(ctx, body)
    send_id = targets.send_id(ctx, body, cid)
    n, broadcast = check_trigger(ctx, body, CAMPAIGN_PROPS)
    _attachments(body, broadcast)
    out: dict[str, Any] = {"dispatch_id": ctx.dispatch_id(), "message": "success"}
    if broadcast:  # tracked send instance (§2.4)
        out["send_id"] = send_id or ctx.state.ids.hex(8)
    return Outcome(out, n)


def canvas_send(ctx: Ctx, body: dict[str, Any], _q: dict[str, str]) -> Outcome:
    cid = targets.canvas_id(ctx, body)
    n, _ = check_trigger(ctx, body, CANVAS_PROPS)
    out: dict[str, Any] = {"dispatch_id": ctx.dispatch_id(), "message": "success"}
    if cid in ctx.opts.archived_canvases:
        return Outcome({"notice": NOTICE_ARCHIVED, **out}, 0)
    if cid in ctx.opts.paused_canvases:
        return Outcome({"notice": NOTICE_PAUSED, **out}, 0)
    return Outcome(out, n)
