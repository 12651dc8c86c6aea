"""The campaign, Canvas and send ids a request names, checked against what the sandbox knows:
the configured campaign/Canvas ids and, in strict mode, the send ids created for a campaign."""

from __future__ import annotations

from typing import Any

from bridge.sandbox.context import Ctx
from bridge.sandbox.fields import Invalid, check_send_id, optional_str, require_str

MSG_INVALID_SEND_ID = "Invalid send_id"


def campaign_id(ctx: Ctx, body: dict[str, Any], required: bool = True) -> str | None:
    """`campaign_id`; 400 Invalid Campaign ID when known ids are configured and it is not one."""
    cid = require_str(body, "campaign_id") if required else optional_str(body, "campaign_id")
    known = ctx.opts.campaign_ids
    if cid is not None and known is not None and cid not in known:
        raise Invalid("Invalid Campaign ID", f"no API-triggered campaign with id {cid!r}")
    return cid


def canvas_id(ctx: Ctx, body: dict[str, Any]) -> str:
    """`canvas_id`; 400 Invalid Canvas ID when known ids are configured and it is not one."""
    cid = require_str(body, "canvas_id")
    known = ctx.opts.canvas_ids
    if known is not None and cid not in known:
        raise Invalid("Invalid Canvas ID", f"no API-triggered Canvas with id {cid!r}")
    return cid


def send_id(ctx: Ctx, body: dict[str, Any], cid: str | None) -> str | None:
    """`send_id`; in strict mode it must have been created for this campaign."""
    sid = check_send_id(body)
    if sid is None or not ctx.opts.strict_send_ids:
        return sid
    if cid is None:
        raise Invalid(
            MSG_INVALID_SEND_ID,
            f"send_id {sid!r} needs a campaign_id (send ids belong to a campaign)",
        )
    if (cid, sid) not in ctx.state.send_ids:
        mine = [c for c, s in ctx.state.send_ids if s == sid]
        why = (
            f"it was created for campaign_id {mine[0]!r}"
            if mine
            else "create it with POST /sends/id/create first"
        )
        raise Invalid(
            MSG_INVALID_SEND_ID,
            f"send_id {sid!r} does not exist for campaign_id {cid!r}: {why}",
        )
    return sid
