"""`/sends/id/create`: send ids created per campaign, charged to the `sends_id` pool."""

from __future__ import annotations

from typing import Any

from bridge.sandbox import ratelimit as rl
from bridge.sandbox import targets
from bridge.sandbox.context import Ctx, Outcome, OverLimit
from bridge.sandbox.fields import Invalid, check_send_id


def sends_id_create(ctx: Ctx, body: dict[str, Any], _q: dict[str, str]) -> Outcome:
    """Re-creating an existing (campaign_id, send_id) pair succeeds and costs no quota."""
    cid = targets.campaign_id(ctx, body) or ""
    send_id = check_send_id(body)
    if send_id is not None and (cid, send_id) in ctx.state.send_ids:
        faults = ctx.faults
        if faults is not None and faults.duplicate_send_id_status is not None:
            raise Invalid(
                faults.duplicate_send_id_message,
                f"send_id {send_id!r} was already created for campaign_id {cid!r}",
                status=faults.duplicate_send_id_status,
            )
        return Outcome({"message": "success", "send_id": send_id})
    if not ctx.pools[rl.SENDS_ID].take(ctx.now):
        raise OverLimit
    if send_id is None:
        send_id = ctx.state.ids.hex(8)
    ctx.state.send_ids[(cid, send_id)] = ctx.now
    return Outcome({"message": "success", "send_id": send_id})
