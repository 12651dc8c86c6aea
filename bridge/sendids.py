"""Custom ``send_id``s: created once with POST /sends/id/create, remembered in the state topic.

Braze allows 100 new send ids per day per workspace, so the bridge never creates one it has
created before: on start-up it looks each (campaign_id, send_id) of the rules up in the
state topic and calls Braze only for the missing ones.

If the state topic was lost, the bridge asks Braze again for ids it created before. Braze does
not document its answer to a repeat; a 409, or a 4xx whose text says the id already exists,
means the id is there: it is recorded as created and start-up goes on.

A rule with ``generate_send_id: true`` lets Braze choose the id (POST /sends/id/create with
only ``campaign_id``) at its first start-up; the id is remembered in the state topic under
``send_id_generated/<campaign id>/<rule name>`` and used by the rule's requests from then on.
"""

from __future__ import annotations

import logging
import re
import time

import httpx

from bridge.actions.common import set_generated_send_id
from bridge.deliver.client import sync_client
from bridge.errors import ConfigError
from bridge.kafka.state import StateStore
from bridge.schedules import workspace_key
from bridge.settings import BrazeSettings, Settings

log = logging.getLogger("bridge.sendids")

_EXISTS = re.compile(r"already\s+(exists?|been\s+created|created|taken|in\s+use)|duplicate", re.I)


def already_exists(status: int, text: str) -> bool:
    """A 4xx answer to /sends/id/create that says the (campaign, send id) pair exists."""
    if status == 409:
        return True
    return 400 <= status < 500 and status not in (401, 403, 429) and bool(_EXISTS.search(text))


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


def generated_key(campaign: str, rule: str, workspace: str = "default") -> str:
    return workspace_key(workspace, f"send_id_generated/{campaign}/{rule}")


def _post(client: httpx.Client, body: dict[str, str], field: str) -> httpx.Response:
    """POST /sends/id/create; connection errors and 5xx are retried a few times."""
    for attempt in range(5):
        try:
            r = client.post("/sends/id/create", json=body)
        except httpx.HTTPError as exc:
            if attempt == 4:
                raise ConfigError(f"cannot create a send_id: {exc}", field=field) from exc
            time.sleep(2**attempt)
            continue
        if r.status_code >= 500 and attempt < 4:
            time.sleep(2**attempt)
            continue
        return r
    raise AssertionError("unreachable")  # pragma: no cover


def ensure_generated_send_ids(
    settings: Settings, store: StateStore, transport: httpx.BaseTransport | None = None
) -> int:
    """Known generated send ids from the state topic; Braze generates the missing ones."""
    rules = [
        (i, r.campaign_id, r.name, settings.workspace_of(r))
        for i, r in enumerate(settings.rules)
        if r.enabled and r.generate_send_id and r.campaign_id
    ]
    todo = []
    for i, campaign, name, ws in rules:
        known = store.get(generated_key(campaign, name, ws))
        if isinstance(known, dict) and isinstance(known.get("send_id"), str):
            set_generated_send_id(campaign, name, known["send_id"])
        else:
            todo.append((i, campaign, name, ws))
    if not todo:
        return 0
    spaces = settings.braze.by_name()
    for i, campaign, name, ws in todo:
        with sync_client(spaces[ws], transport) as client:
            field = f"rules[{i}].generate_send_id"
            r = _post(client, {"campaign_id": campaign}, field)
            try:
                sid = r.json().get("send_id") if 200 <= r.status_code < 300 else None
            except ValueError:
                sid = None
            if not isinstance(sid, str) or not sid:
                quota = " (Braze allows 100 new send ids per day)" if r.status_code == 429 else ""
                raise ConfigError(
                    f"Braze did not generate a send_id for campaign {campaign!r}: "
                    f"{r.status_code} {r.text[:300]}{quota}",
                    field=field,
                )
            store.put(
                generated_key(campaign, name, ws),
                {"send_id": sid, "created": int(time.time() * 1000)},
            )
            set_generated_send_id(campaign, name, sid)
            log.info("Braze generated a send_id", extra={"campaign_id": campaign, "rule": name})
    store.flush(15)
    return len(todo)


def send_id_key(workspace: str, campaign_id: str, send_id: str) -> str:
    """The state-topic key of a created send id (send ids are per workspace)."""
    return workspace_key(workspace, f"send_id/{campaign_id}/{send_id}")


def ensure_send_ids(
    settings: Settings, store: StateStore, transport: httpx.BaseTransport | None = None
) -> int:
    """Create the send ids the rules name and the state topic does not know; return created.

    Each is created in its rule's workspace (Braze's 100-a-day limit is per workspace); send
    ids Braze generates (``generate_send_id``) first."""
    generated = ensure_generated_send_ids(settings, store, transport)
    todo = [w for w in wanted(settings) if store.get(send_id_key(w[3], w[1], w[2])) is None]
    created = 0
    for name, b in settings.braze.by_name().items():
        mine = [(i, c, s) for i, c, s, ws in todo if ws == name]
        if mine:
            created += _create(b, mine, store, name, transport)
    if created:
        store.flush(15)
    return created + generated


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
            if already_exists(r.status_code, r.text):
                log.info(
                    "send_id already exists in Braze",
                    extra={"campaign_id": campaign, "send_id": send_id, "status": r.status_code},
                )
                store.put(
                    send_id_key(workspace, campaign, send_id), {"created": int(time.time() * 1000)}
                )
                continue
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
