"""The sandbox's verdict on a request without sending it: the sandbox's own handling, run
in-process on a throwaway `SandboxApp` (no faults, fresh rate-limit pools, no state).

When the console is pointed at a running sandbox, its settings (known campaign/Canvas ids,
paused and archived Canvases, success statuses, ...) are copied from `GET /_sandbox/config`,
so the verdict is the one that sandbox would give.
"""

from __future__ import annotations

import os
from typing import Any

import orjson

from bridge.sandbox.app import SandboxApp
from bridge.sandbox.options import KNOWN_KEYS, OptionsError, SandboxOptions, apply_mapping

# Settings that do not change the verdict or must not be copied.
_NOT_COPIED = frozenset({"host", "port", "api_key", "faults", "record_limit", "seed"})
_PLACEHOLDER_PREFIX = "<schedule_id of "


def options_from(remote: dict[str, Any] | None) -> SandboxOptions:
    key = os.urandom(12).hex()
    opts = SandboxOptions(api_key=key, record_limit=1)
    if not remote:
        return opts
    data = {k: v for k, v in remote.items() if k in KNOWN_KEYS and k not in _NOT_COPIED}
    try:
        return apply_mapping(opts, data)
    except OptionsError:
        return opts  # a sandbox of another version: judge with the defaults


def verdict(opts: SandboxOptions, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """``{"valid": bool, "status": int, "answer": ...}`` or ``{"valid": None, "note": ...}``."""
    schedule_id = body.get("schedule_id")
    if isinstance(schedule_id, str) and schedule_id.startswith(_PLACEHOLDER_PREFIX):
        return {
            "valid": None,
            "note": "not checked: the schedule_id comes from the create, at run time",
        }
    app = SandboxApp(opts)
    headers = {"authorization": f"Bearer {opts.api_key}", "content-type": "application/json"}
    raw = orjson.dumps(body) if method == "POST" else b""
    resp = app.handle(method, path, headers, raw)
    return {"valid": 200 <= resp.status < 300, "status": resp.status, "answer": resp.body}
