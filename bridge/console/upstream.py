"""The sandbox's inspection and fault API, as the console reads and changes it.

The browser never talks to the sandbox: the console server does, adds the admin credential
(`--sandbox-token`, else the API key) and masks user ids before anything reaches the page.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from bridge.console.pii import mask_ids
from bridge.errors import BridgeError

# The fault settings the console's toggles may set (everything else is refused).
FAULT_KEYS = frozenset(
    {"error_rate", "error_statuses", "latency_ms", "rate_limit_for_s", "unauthorized_for_s", "seed"}
)


class SandboxUnavailable(BridgeError):
    """The sandbox did not answer (or answered with an error)."""


class Sandbox:
    def __init__(self, url: str, token: str | None, pii: str, timeout_s: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.pii = pii
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.url, timeout=timeout_s, headers=headers)
        self._config: tuple[float, dict[str, Any] | None] = (0.0, None)

    def close(self) -> None:
        self.http.close()

    def _get(self, path: str, **params: Any) -> Any:
        try:
            r = self.http.get(path, params={k: v for k, v in params.items() if v is not None})
        except httpx.HTTPError as exc:
            raise SandboxUnavailable(f"sandbox {self.url}: {type(exc).__name__}") from exc
        if r.status_code != 200:
            raise SandboxUnavailable(f"sandbox {self.url}{path}: HTTP {r.status_code}")
        return r.json()

    def is_sandbox(self) -> bool:
        try:
            return bool(self._get("/_sandbox/health").get("status") == "ok")
        except (SandboxUnavailable, ValueError, AttributeError):
            return False

    def config(self, max_age_s: float = 5.0) -> dict[str, Any] | None:
        """The sandbox's settings (cached briefly), or None when it does not answer."""
        at, cached = self._config
        if time.monotonic() - at < max_age_s:
            return cached
        try:
            cfg = self._get("/_sandbox/config")
        except (SandboxUnavailable, ValueError):
            cfg = None
        self._config = (time.monotonic(), cfg if isinstance(cfg, dict) else None)
        return self._config[1]

    def inbox(self, since: int | None) -> dict[str, Any]:
        requests = self._get("/_sandbox/requests", since=since)["requests"]
        stats = self._get("/_sandbox/stats")
        schedules = self._get("/_sandbox/schedules")["schedules"]
        faults = self._get("/_sandbox/faults")
        return {
            "requests": [self._entry(r) for r in requests],
            "last_seq": stats.get("last_seq", 0),
            "stats": {
                k: stats.get(k)
                for k in ("requests_total", "accepted_total", "rate_limited_total", "faults")
            },
            "pools": stats.get("pools", {}),
            "schedules": mask_ids(schedules, self.pii),
            "faults": faults,
        }

    def _entry(self, rec: dict[str, Any]) -> dict[str, Any]:
        body = rec.get("body")
        out = {
            "seq": rec.get("seq"),
            "time": rec.get("time"),
            "method": rec.get("method"),
            "path": rec.get("path"),
            "status": rec.get("status"),
            "fault": rec.get("fault"),
            "body": mask_ids(body, self.pii),
            "response": mask_ids(rec.get("response"), self.pii),
            # Recorded by sandboxes that keep the answer's X-RateLimit-* headers.
            "rate_limit": rec.get("rate_limit") or rec.get("headers"),
            "target": _target(body),
            "recipients": _recipients(body, self.pii),
        }
        return out

    def set_faults(self, spec: dict[str, Any] | None) -> dict[str, Any]:
        if spec:
            unknown = sorted(set(spec) - FAULT_KEYS)
            if unknown:
                raise ValueError(f"the console does not set {', '.join(unknown)}")
        try:
            if spec:
                r = self.http.post("/_sandbox/faults", json=spec)
            else:
                r = self.http.delete("/_sandbox/faults")
        except httpx.HTTPError as exc:
            raise SandboxUnavailable(f"sandbox {self.url}: {type(exc).__name__}") from exc
        if r.status_code != 200:
            detail = (
                r.json()
                if r.headers.get("content-type", "").startswith("application/json")
                else r.text
            )
            raise ValueError(f"the sandbox refused the faults (HTTP {r.status_code}): {detail}")
        out: dict[str, Any] = r.json()
        return out


def _target(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    for k in ("campaign_id", "canvas_id"):
        if isinstance(body.get(k), str):
            return str(body[k])
    return None


def _recipients(body: Any, pii: str) -> list[str]:
    """The recipients' identifiers of a request, for the recipient filter (masked)."""
    if not isinstance(body, dict):
        return []
    ids: list[Any] = []
    for r in body.get("recipients") or []:
        if isinstance(r, dict):
            alias = r.get("user_alias")
            ids.append(
                r.get("external_user_id")
                or r.get("email")
                or r.get("braze_id")
                or (alias.get("alias_name") if isinstance(alias, dict) else None)
            )
    for k in ("external_user_ids", "emails"):
        if isinstance(body.get(k), list):
            ids.extend(body[k])
    for a in body.get("user_aliases") or []:
        if isinstance(a, dict):
            ids.append(a.get("alias_name"))
    masked = mask_ids({"external_user_ids": [str(i) for i in ids if i is not None]}, pii)
    return list(masked["external_user_ids"])
