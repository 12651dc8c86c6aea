"""How every part of the bridge talks to Braze: the same headers, the same timeouts."""

from __future__ import annotations

import httpx

from bridge.settings import BrazeSettings


def braze_headers(braze: BrazeSettings) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {braze.api_key.get_secret_value()}",
        "Content-Type": "application/json",
        "User-Agent": "braze-kafka-bridge/0.1",
    }


def braze_timeout(braze: BrazeSettings) -> httpx.Timeout:
    return httpx.Timeout(
        connect=braze.connect_timeout_s,
        read=braze.request_timeout_s,
        write=braze.request_timeout_s,
        pool=None,
    )


def sync_client(braze: BrazeSettings, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """A short-lived client for start-up and command-line calls (send ids, schedules)."""
    return httpx.Client(
        base_url=braze.rest_endpoint,
        headers=braze_headers(braze),
        timeout=braze_timeout(braze),
        transport=transport,
    )
