"""Which rate-limit pool and which "unique audience" a Braze request is metered in.

Braze facts (``docs/braze-api.md`` §2.3): a request that names users (``recipients``,
``external_user_ids``, ``user_aliases``) is a specific-user send, in the shared pool, even
when it also gives a segment or an audience; only segment/audience-only calls are broadcast.
Two broadcast requests target the same unique audience when their campaign/Canvas id,
segment and ``audience`` object all match (``bridge.braze_facts.audience_key``, which the
sandbox meters by too).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridge.braze_facts import USER_FIELDS


def request_pool(label: str, body: Mapping[str, Any]) -> str:
    """The pool a request is metered in: a request that names users is in the default pool
    even with an audience or segment (Braze counts only segment/audience-only calls as
    broadcast); otherwise the action's label."""
    if label == "broadcast" and any(body.get(f) for f in USER_FIELDS):
        return "default"
    return label
