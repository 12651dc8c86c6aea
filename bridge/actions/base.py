"""What an action produces: an :class:`Item` for a request of a given :class:`Shape`.

Items of the same shape (endpoint + request-level fields) are batched into one request,
up to ``Shape.max_items``; ``identity`` keeps duplicate recipients in separate requests
(Braze collapses duplicates within one request).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from bridge.models import Event
from bridge.offsets import Hold, Ticket

# Rule priorities (the shape carries the number; bridge.deliver.pacing spends by it).
TRANSACTIONAL = 100
BULK = 0
BULK_BELOW = 50  # numeric priorities below this are bulk (spend only down to the floor)


def priority_value(p: str | int | None) -> int:
    """``transactional`` -> 100, ``bulk`` -> 0, a number -> itself (higher goes first)."""
    if p is None or p == "transactional":
        return TRANSACTIONAL
    if p == "bulk":
        return BULK
    return int(p)


def is_bulk(priority: int) -> bool:
    return priority < BULK_BELOW


BROADCAST_POOL = "broadcast"
DEFAULT_POOL = "default"
SENDS_ID_POOL = "sends_id"


@dataclass(frozen=True, slots=True)
class Shape:
    """Everything a request shares except its list of items."""

    method: str
    path: str
    key: tuple[tuple[str, Any], ...]  # top-level fields, hashable (see freeze)
    list_field: str | None  # "recipients" / "external_user_ids"; None: one item per request
    max_items: int
    pool: str
    kind: str = "send"  # send | schedule_create | schedule_update | schedule_delete
    shadow: bool = False  # record instead of sending
    base: dict[str, Any] = field(compare=False, hash=False, default_factory=dict)
    workspace: str = "default"  # braze.workspaces name: requests never mix workspaces
    priority: int = 100  # bridge.deliver.pacing: transactional 100, bulk 0 (set per rule)

    @classmethod
    def make(
        cls,
        method: str,
        path: str,
        base: dict[str, Any],
        list_field: str | None,
        max_items: int,
        pool: str,
        kind: str = "send",
    ) -> Shape:
        return cls(method, path, freeze(base), list_field, max_items, pool, kind, False, base)

    def body(self, payloads: list[Any]) -> dict[str, Any]:
        body = dict(self.base)
        if self.list_field is None:
            body.update(payloads[0])
        else:
            body[self.list_field] = payloads
        return body


def freeze(value: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """Hashable form of request-level fields (nested values compared by their JSON)."""
    out = []
    for k in sorted(value):
        v = value[k]
        out.append((k, _Frozen(v) if isinstance(v, dict | list) else v))
    return tuple(out)


class _Frozen:
    """A JSON-able value hashed and compared by its canonical JSON."""

    __slots__ = ("value", "_key")

    def __init__(self, value: Any) -> None:
        self.value = value
        self._key = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)

    def __hash__(self) -> int:
        return hash(self._key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Frozen) and other._key == self._key


@dataclass(slots=True)
class Item:
    """One event's contribution to a request (a recipient, an id, or a whole body)."""

    ticket: Ticket
    rule: str
    shape: Shape
    identity: Any
    payload: Any
    attempts: int = 0
    first_failure: float = 0.0
    state_key: str | None = None  # schedule lifecycle key ("schedule/<name>/<business key>")
    hold: Hold | None = None  # this item's action on the ticket (bridge.offsets.release)


Builder = Callable[[Event], tuple[Shape, Any, Any]]
"""An action compiled for one rule: event -> (shape, identity, payload)."""
