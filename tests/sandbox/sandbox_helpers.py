"""Helpers shared by the sandbox tests: a client wrapper and request-body builders."""

from __future__ import annotations

from typing import Any

import httpx

from bridge.sandbox import SandboxServer

API_KEY = "test-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


class Sandbox:
    """A running sandbox plus an httpx client preconfigured with the API key."""

    def __init__(self, server: SandboxServer, url: str) -> None:
        self.server = server
        self.url = url
        self.client = httpx.Client(base_url=url, headers=AUTH, timeout=10)

    def post(self, path: str, body: Any, **kw: Any) -> httpx.Response:
        return self.client.post(path, json=body, **kw)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.client.get(path, **kw)

    def requests(self, **params: Any) -> list[dict[str, Any]]:
        r = self.client.get("/_sandbox/requests", params=params)
        assert r.status_code == 200
        return list(r.json()["requests"])

    def stats(self) -> dict[str, Any]:
        return dict(self.client.get("/_sandbox/stats").json())

    def close(self) -> None:
        self.client.close()
        self.server.stop()


def rcpt(uid: str = "u1", **extra: Any) -> dict[str, Any]:
    return {"external_user_id": uid, **extra}


def campaign(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"campaign_id": "camp-1", "recipients": [rcpt()]}
    body.update(extra)
    return body


def canvas(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"canvas_id": "canvas-1", "recipients": [rcpt()]}
    body.update(extra)
    return body


def message(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_user_ids": ["u1"],
        "messages": {"email": {"app_id": "app", "subject": "hi", "body": "x"}},
    }
    body.update(extra)
    return body


def rate_headers(r: httpx.Response) -> tuple[int, int, int]:
    return (
        int(r.headers["X-RateLimit-Limit"]),
        int(r.headers["X-RateLimit-Remaining"]),
        int(r.headers["X-RateLimit-Reset"]),
    )
