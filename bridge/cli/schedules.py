"""``braze-bridge schedules``: Braze's upcoming scheduled broadcasts, and the bridge's own.

Left: ``GET /messages/scheduled_broadcasts?end_time=…`` (campaigns and Canvases scheduled in
the dashboard). Right: the schedules the bridge created and still tracks in its state topic
(Braze does not document whether API-created schedules appear in the first list).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import orjson

from bridge.cli.conventions import EXIT_OK, add_config
from bridge.errors import BridgeError, ConfigError


def add_schedules_arguments(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``schedules`` command and its options."""
    sch = sub.add_parser(
        "schedules", help="list upcoming scheduled broadcasts and tracked schedules"
    )
    add_config(sch)
    sch.add_argument("--until", required=True, help="ISO-8601 date or time")
    sch.add_argument("--json", action="store_true", help="print JSON")


def cmd_schedules(config: str, until: str, as_json: bool) -> int:
    """Print the upcoming schedules as text or JSON."""
    doc = collect(config, until)
    if as_json:
        print(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())
    else:
        print(render(doc))
    return EXIT_OK


def _until(text: str) -> str:
    from bridge.rules.times import to_datetime

    try:
        return to_datetime(text).isoformat()
    except ValueError as exc:
        raise ConfigError(f"--until: {text!r} is not an ISO-8601 date or time") from exc


def collect(config: str, until: str) -> dict[str, Any]:
    import httpx

    from bridge.deliver.client import sync_client
    from bridge.kafka.state import StateStore
    from bridge.settings import load_settings

    settings = load_settings(Path(config))
    end = _until(until)
    b = settings.braze
    with sync_client(b) as client:
        try:
            r = client.get("/messages/scheduled_broadcasts", params={"end_time": end})
        except httpx.HTTPError as exc:
            raise BridgeError(f"cannot reach Braze at {b.rest_endpoint}: {exc}") from exc
    if r.status_code != 200:
        raise BridgeError(f"Braze answered {r.status_code}: {r.text[:300]}")
    broadcasts = r.json().get("scheduled_broadcasts", [])
    store = StateStore(settings.kafka, in_memory=True)  # one-shot read: no local copy
    tracked: list[dict[str, Any]] = []
    try:
        store.ensure_topic()
        store.load()
        for key, value in store.items("schedule/"):
            if value.get("status") != "active":
                continue
            t = value.get("time") or ""
            if t and t.rstrip("Z") > end[:19]:
                continue
            _, name, business_key = key.split("/", 2)
            tracked.append({"schedule": name, "key": business_key, **value})
    finally:
        store.close()
    tracked.sort(key=lambda v: str(v.get("time")))
    return {"end_time": end, "scheduled_broadcasts": broadcasts, "bridge_schedules": tracked}


def render(doc: dict[str, Any]) -> str:
    lines = [f"Scheduled broadcasts in Braze until {doc['end_time']}:"]
    for s in doc["scheduled_broadcasts"]:
        lines.append(
            f"  {s.get('next_send_time', '?'):<28} {s.get('type', '?'):<9} {s.get('name', '')}"
            f"  ({s.get('id', '')}, {s.get('schedule_type', '')})"
        )
    if not doc["scheduled_broadcasts"]:
        lines.append("  (none)")
    lines.append("Schedules the bridge created and tracks (state topic):")
    for s in doc["bridge_schedules"]:
        target = ",".join(f"{k}={v}" for k, v in (s.get("target") or {}).items())
        lines.append(
            f"  {s.get('time', '?'):<28} {s['schedule']}/{s['key']}  {s.get('path', '')}"
            f"  {target}  schedule_id={s.get('schedule_id')}"
        )
    if not doc["bridge_schedules"]:
        lines.append("  (none)")
    return "\n".join(lines)
