"""The schedule lifecycle: create -> update -> cancel, keyed by a business key.

``schedule_id``s returned by Braze live in the compacted state topic (:mod:`bridge.kafka.state`),
so any replica, after any restart or rebalance, can update or cancel them. Rules:

* Operations on one key run one at a time, in arrival order (a cancel waits for the
  create in flight before it).
* A create for a key that already has a schedule moves it (update) instead of scheduling twice.
* An update for an unknown key is counted and logged, not dead-lettered.
* A cancel for an unknown key is remembered (``cancelled`` marker), so a create that arrives
  later, out of order, is skipped: the cancel wins.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from bridge.actions.base import Item, Shape
from bridge.batch import Batch
from bridge.kafka.state import StateStore
from bridge.offsets import Hold
from bridge.ops.metrics import Metrics

log = logging.getLogger("bridge.schedules")


def workspace_key(workspace: str, key: str) -> str:
    """A state-topic key of ``workspace``: the default workspace keeps the bare key (state
    topics written before workspaces stay valid); another gets ``workspace/<name>/`` first."""
    return key if workspace == "default" else f"workspace/{workspace}/{key}"


class ScheduleCoordinator:
    def __init__(
        self, store: StateStore, submit: Callable[[Batch], None], metrics: Metrics
    ) -> None:
        self.store = store
        self.submit = submit
        self.metrics = metrics
        self.busy: set[str] = set()
        self.deferred: dict[str, deque[Item]] = {}

    def handle(self, item: Item) -> None:
        key = item.state_key = workspace_key(item.shape.workspace, item.state_key or "")
        if key in self.busy:
            self.deferred.setdefault(key, deque()).append(item)
            return
        self._run(item)

    def _count(self, outcome: str) -> None:
        self.metrics.schedule_ops.labels(outcome).inc()

    def _run(self, item: Item) -> None:
        key = item.state_key or ""
        kind = item.shape.kind
        st = self.store.get(key)
        status = st.get("status") if st else None
        if kind == "schedule_create":
            if status == "cancelled":
                self._count("create_skipped_cancelled")
                log.info("schedule create skipped: already cancelled", extra={"key": key})
                item.release()
                self._next(key)
                return
            if status == "active" and st is not None:
                item = self._as_update(item, st)
        elif status != "active" or st is None:
            if kind == "schedule_delete" and status != "cancelled":
                self._count("cancel_unknown_remembered")
                log.info(
                    "cancel for an unknown schedule: remembered so a late create is skipped",
                    extra={"key": key},
                )
                hold = Hold(item.ticket)  # released once Kafka has the state write
                self.store.put(
                    key, {"status": "cancelled", "at": _ms(), "rule": item.rule}, hold.release
                )
            else:
                self._count("update_unknown" if kind == "schedule_update" else "cancel_repeated")
                log.info("schedule %s for an unknown key", kind.split("_")[1], extra={"key": key})
            item.release()
            self._next(key)
            return
        else:
            item.payload = {**item.payload, "schedule_id": st["schedule_id"]}
        self.busy.add(key)
        batch = Batch(item.shape, time.monotonic())
        batch.items.append(item)
        self.submit(batch)

    def _as_update(self, item: Item, st: dict[str, Any]) -> Item:
        shape = item.shape
        path = shape.path.rsplit("/", 1)[0] + "/update"
        base = {k: v for k, v in shape.base.items() if k in ("campaign_id", "canvas_id")}
        payload: dict[str, Any] = {
            "schedule_id": st["schedule_id"],
            "schedule": item.payload["schedule"],
        }
        if path.startswith("/messages/") and "messages" in item.payload:
            payload["messages"] = item.payload["messages"]
        new_shape = Shape.make("POST", path, base, None, 1, "default", "schedule_update")
        if shape.workspace != new_shape.workspace:
            new_shape = replace(new_shape, workspace=shape.workspace)
        self._count("create_moved_existing")
        moved = Item(item.ticket, item.rule, new_shape, item.identity, payload, item.state_key)
        item.moved()  # the same action, moved: released once, at the new item's outcome
        return moved

    def on_final(self, item: Item, accepted: bool, response: Any) -> None:
        """Called for a schedule item's final outcome, before its ticket is released."""
        key = item.state_key or ""
        kind = item.shape.kind
        if accepted:
            prev = self.store.get(key) or {}
            if kind == "schedule_create":
                sid = response.get("schedule_id") if isinstance(response, dict) else None
                value = {
                    "status": "active",
                    "schedule_id": sid,
                    "path": item.shape.path,
                    "target": {
                        k: v
                        for k, v in item.shape.base.items()
                        if k in ("campaign_id", "canvas_id")
                    },
                    "time": item.payload.get("schedule", {}).get("time"),
                    "rule": item.rule,
                    "updated": _ms(),
                }
                self._count("created")
            elif kind == "schedule_update":
                value = {
                    **prev,
                    # a message_schedule update may carry new messages only: same time
                    "time": item.payload.get("schedule", {}).get("time") or prev.get("time"),
                    "updated": _ms(),
                }
                self._count("updated")
            else:
                value = {
                    "status": "cancelled",
                    "at": _ms(),
                    "schedule_id": prev.get("schedule_id"),
                    "rule": item.rule,
                }
                self._count("cancelled")
            hold = Hold(item.ticket)  # released once Kafka has the state write
            self.store.put(key, value, hold.release)
        self.busy.discard(key)
        self._next(key)

    def _next(self, key: str) -> None:
        q = self.deferred.get(key)
        if not q:
            self.deferred.pop(key, None)
            return
        nxt = q.popleft()
        if not q:
            del self.deferred[key]
        self._run(nxt)


def _ms() -> int:
    return int(time.time() * 1000)
