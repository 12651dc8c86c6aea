"""Custom ``send_id``s: created once with POST /sends/id/create, remembered in the state topic.

Braze allows 100 new send ids per day per workspace, so the bridge never creates one it has
created before: on start-up it looks each (campaign_id, send_id) of the rules up in the
state topic and calls Braze only for the missing ones.
"""

from __future__ import annotations

import logging
import time

import httpx

from bridge.deliver.client import sync_client
from bridge.errors import ConfigError
from bridge.kafka.state import StateStore
from bridge.schedules import workspace_key
from bridge.settings import BrazeSettings, Settings

log = logging.getLogger("bridge.sendids")


def wanted(settings: Settings) -> list[tuple[int, str, str, str]]:
    """(rule index, campaign_id, send_id, workspace) of each send id the rules name, once."""
    out = []
    seen = set()
    for i, r in enumerate(settings.rules):
        if not (r.enabled and r.send_id and r.campaign_id):
            continue
        ws = settings.workspace_of(r)
        if (r.campaign_id, r.send_id, ws) not in seen:
            seen.add((r.campaign_id, r.send_id, ws))
            out.append((i, r.campaign_id, r.send_id, ws))
    return out


def send_id_key(workspace: str, campaign_id: str, send_id: str) -> str:
    """The state-topic key of a created send id (send ids are per workspace)."""
    return workspace_key(workspace, f"send_id/{campaign_id}/{send_id}")


def ensure_send_ids(
    settings: Settings, store: StateStore, transport: httpx.BaseTransport | None = None
) -> int:
    """Create the send ids the rules name and the state topic does not know; return created.

    Each is created in its rule's workspace (Braze's 100-a-day limit is per workspace)."""
    todo = [w for w in wanted(settings) if store.get(send_id_key(w[3], w[1], w[2])) is None]
    created = 0
    for name, b in settings.braze.by_name().items():
        mine = [(i, c, s) for i, c, s, ws in todo if ws == name]
        if mine:
            created += _create(b, mine, store, name, transport)
    if created:
        store.flush(15)
    return created


def _create(
    b: BrazeSettings,
    todo: list[tuple[int, str, str]],
    store: StateStore,
    workspace: str,
    transport: httpx.BaseTransport | None,
) -> int:
    created = 0
    with sync_client(b, transport) as client:
        for i, campaign, send_id in todo:
            for attempt in range(5):
                try:
                    r = client.post(
                        "/sends/id/create", json={"campaign_id": campaign, "send_id": send_id}
                    )
                except httpx.HTTPError as exc:
                    if attempt == 4:
                        raise ConfigError(
                            f"cannot create send_id {send_id!r}: {exc}", field=f"rules[{i}].send_id"
                        ) from exc
                    time.sleep(2**attempt)
                    continue
                if r.status_code >= 500:
                    time.sleep(2**attempt)
                    continue
                break
            if not 200 <= r.status_code < 300:
                quota = " (Braze allows 100 new send ids per day)" if r.status_code == 429 else ""
                raise ConfigError(
                    f"Braze refused to create send_id {send_id!r} for campaign {campaign!r}: "
                    f"{r.status_code} {r.text[:300]}{quota}",
                    field=f"rules[{i}].send_id",
                )
            key = send_id_key(workspace, campaign, send_id)
            store.put(key, {"created": int(time.time() * 1000)})
            created += 1
            log.info(
                "created send_id",
                extra={"campaign_id": campaign, "send_id": send_id, "workspace": workspace},
            )
    return created
