"""The sandbox's answer to one request, independent of the HTTP transport."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Response:
    status: int
    body: Any  # JSON-able
    payload: bytes | None = None  # body serialized (set by recording.finish)
    rate: tuple[int, int, int] | None = None  # X-RateLimit-Limit/Remaining/Reset
    delay_s: float = 0.0
    reset: bool = False  # close the connection without answering
    close: bool = False
    extra_headers: tuple[tuple[str, str], ...] = ()


def mask_key(key: str) -> str:
    """An API key as it may appear in an answer: its first 4 characters at most."""
    return key[:4] + "****" if len(key) > 8 else "****"


def rate_limited() -> Response:
    """Braze's 429 answer."""
    return Response(429, {"message": "Rate limit exceeded"})
