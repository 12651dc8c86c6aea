"""Which rate-limit pool and which "unique audience" a Braze request is metered in.

Braze facts (``docs/braze-api.md`` §2.3): a request that names users (``recipients``,
``external_user_ids``, ``user_aliases``) is a specific-user send, in the shared pool, even
when it also gives a segment or an audience; only segment/audience-only calls are broadcast.
Two broadcast requests target the same unique audience when their campaign/Canvas id,
segment and ``audience`` object all match. The sender and the sandbox both read these here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

USER_FIELDS = ("recipients", "external_user_ids", "user_aliases")
AUDIENCE_FIELDS = ("campaign_id", "canvas_id", "segment_id", "audience")


def request_pool(label: str, body: Mapping[str, Any]) -> str:
    """The pool a request is metered in: a request that names users is in the default pool
    even with an audience or segment (Braze counts only segment/audience-only calls as
    broadcast); otherwise the action's label."""
    if label == "broadcast" and any(body.get(f) for f in USER_FIELDS):
        return "default"
    return label


def audience_key(body: Mapping[str, Any]) -> str:
    """Braze's "same unique audience": campaign/Canvas id, segment and audience object."""
    return orjson.dumps(
        {k: body.get(k) for k in AUDIENCE_FIELDS}, option=orjson.OPT_SORT_KEYS
    ).decode()
