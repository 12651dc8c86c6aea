"""Facts of Braze's REST API that both the bridge's actions and the sandbox rely on.

Kept at the bottom layer so that the code that builds requests and the sandbox that checks
them read one definition (see the team's Braze reference, shared/docs/braze-api.md).
"""

from __future__ import annotations

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
