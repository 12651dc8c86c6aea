"""Drives PyPI `edx-braze-client` (edx/braze-client) against the Braze sandbox.

Usage: PYTHONPATH=<dir with braze + requests> python edx_braze_client_driver.py URL KEY
Prints one JSON object: {call name: {"ok": bool, "body" | "error", "detail"}}.

The client's messaging calls are made with its own request shapes. Its user-data lookups
(`/users/identify`, `/users/export/ids`) are not sandbox endpoints; they are replaced by
stubs so that `create_recipients` and `send_email` still build their real request bodies.
The fault windows are set through the sandbox's control API to see the client's error types.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import requests
from braze import client as braze_client

url, key = sys.argv[1], sys.argv[2]
results: dict[str, dict[str, Any]] = {}


def call(name: str, fn: Any) -> Any:
    try:
        body = fn()
    except Exception as exc:  # noqa: BLE001 - reported to the test
        results[name] = {"ok": False, "error": type(exc).__name__, "detail": str(exc)}
        if hasattr(exc, "reset_epoch_s"):
            results[name]["reset_epoch_s"] = exc.reset_epoch_s
        return None
    results[name] = {"ok": True, "body": body}
    return body


def faults(spec: dict[str, Any] | None) -> None:
    auth = {"Authorization": f"Bearer {key}"}
    if spec is None:
        requests.delete(f"{url}/_sandbox/faults", headers=auth, timeout=5).raise_for_status()
    else:
        r = requests.post(f"{url}/_sandbox/faults", json=spec, headers=auth, timeout=5)
        r.raise_for_status()


c = braze_client.BrazeClient(api_key=key, api_url=url, app_id="edx-app")
c.identify_users = lambda aliases: None  # type: ignore[method-assign]  # /users/identify
ids = {"ann@example.com": 101, "bob@example.com": 102}
c.get_braze_external_id = lambda email: ids.get(email)  # type: ignore[method-assign]

recipients = call(
    "create_recipients",
    lambda: c.create_recipients("Enterprise", ids, {"ann@example.com": {"course": "x"}}),
)
call(
    "send_campaign_message",
    lambda: c.send_campaign_message(
        "camp-edx", recipients=list(recipients.values()), trigger_properties={"k": 1}
    ),
)
call("send_campaign_message.emails", lambda: c.send_campaign_message("camp-edx", emails=list(ids)))
call(
    "send_canvas_message",
    lambda: c.send_canvas_message(
        "canvas-edx", recipients=[{"external_user_id": "u1"}], canvas_entry_properties={"a": 1}
    ),
)
call(
    "send_email",
    lambda: c.send_email(list(ids), "Subject", "<p>hi</p>", "from@example.com", reply_to="r@x.io"),
)
call("error.bad_request", lambda: c.send_canvas_message("canvas-edx", recipients=[{}]))
faults({"forbidden_for_s": 30})
call("error.forbidden", lambda: c.send_campaign_message("camp-edx", emails=list(ids)))
faults({"rate_limit_for_s": 30})
call("error.rate_limited", lambda: c.send_campaign_message("camp-edx", emails=list(ids)))
faults({"error_rate": 1.0, "error_statuses": [503]})
call("error.server", lambda: c.send_campaign_message("camp-edx", emails=list(ids)))
faults(None)
wrong = braze_client.BrazeClient(api_key="nope-nope-nope", api_url=url, app_id="a")
call("error.unauthorized", lambda: wrong.send_canvas_message("k", recipients=[{"braze_id": "b"}]))
print(json.dumps(results))
