"""Facts of Braze's REST API that both the bridge's actions and the sandbox rely on.

Kept at the bottom layer so that the code that builds requests and the sandbox that checks
them read one definition (see the team's Braze reference, shared/docs/braze-api.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

# The messaging objects Braze documents for /messages/send; /messages/schedule/* lack whats_app.
SEND_MESSAGE_KEYS = frozenset(
    {
        "android_push",
        "apple_push",
        "content_card",
        "email",
        "kindle_push",
        "web_push",
        "webhook",
        "whats_app",
        "sms",
    }
)
SCHEDULE_MESSAGE_KEYS = SEND_MESSAGE_KEYS - {"whats_app"}

# Push payload limits in bytes (Braze answers "Apple/Android Push Length Exceeded" beyond them).
APPLE_PUSH_MAX = 1912
ANDROID_PUSH_MAX = 4000
PUSH_LIMITS = {"apple_push": APPLE_PUSH_MAX, "android_push": ANDROID_PUSH_MAX}

# §2.3: a request naming users is a specific-user send (shared pool) even with a segment or
# an audience; two broadcast requests target the same "unique audience" when these match.
USER_FIELDS = ("recipients", "external_user_ids", "user_aliases")
AUDIENCE_FIELDS = ("campaign_id", "canvas_id", "segment_id", "audience")


def audience_key(body: Mapping[str, Any]) -> str:
    """Braze's "same unique audience" of a broadcast request, as one comparable string:
    its campaign/Canvas id, segment and ``audience`` object."""
    return orjson.dumps(
        {k: body.get(k) for k in AUDIENCE_FIELDS}, option=orjson.OPT_SORT_KEYS
    ).decode()
