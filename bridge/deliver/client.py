"""How every part of the bridge talks to Braze: the same headers, the same timeouts."""

from __future__ import annotations

from typing import Protocol

import httpx

from bridge.deliver.transport import LeanPoster, LeanResponse, LeanTransport
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


class Poster(Protocol):
    """What the sender posts with: a JSON body to a path under the REST endpoint."""

    async def post(self, path: str, body: bytes) -> httpx.Response | LeanResponse: ...

    async def aclose(self) -> None: ...


class HttpxPoster:
    """JSON POSTs through an ``httpx.AsyncClient`` (``braze.http_transport: httpx``, or a
    caller's own transport)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def post(self, path: str, body: bytes) -> httpx.Response:
        return await self.client.post(path, content=body)

    async def aclose(self) -> None:
        await self.client.aclose()


def async_poster(
    braze: BrazeSettings, transport: httpx.AsyncBaseTransport | None = None
) -> LeanPoster | HttpxPoster:
    """The sender's long-lived poster; build it on the event loop that will use it.

    ``http_transport: lean`` (and no caller's transport): the lean poster, production's
    path. Otherwise an httpx client over ``transport``; only ``http_transport: httpx``
    honours the proxy environment.
    """
    timeout = braze_timeout(braze)
    if transport is None and braze.http_transport == "lean":
        return LeanPoster(
            braze.rest_endpoint,
            braze_headers(braze),
            timeout,
            LeanTransport(max_idle=braze.max_in_flight),
        )
    return HttpxPoster(
        httpx.AsyncClient(
            base_url=braze.rest_endpoint,
            headers=braze_headers(braze),
            timeout=timeout,
            limits=httpx.Limits(
                max_connections=braze.max_in_flight,
                max_keepalive_connections=braze.max_in_flight,
            ),
            transport=transport,
            trust_env=braze.http_transport == "httpx",
        )
    )
