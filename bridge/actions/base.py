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
    # The batcher looks every item's shape up by hash: computed once, not per recipient.
    _hash: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        fields = (self.method, self.path, self.key, self.list_field, self.max_items, self.pool)
        more = (self.kind, self.shadow, self.workspace, self.priority)
        object.__setattr__(self, "_hash", hash((*fields, *more)))

    def __hash__(self) -> int:
        return self._hash

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


class Item(Hold):
    """One event's contribution to a request (a recipient, an id, or a whole body), and its
    hold on the ticket: the item *is* one open action of its record, released exactly once
    (:meth:`Hold.release`). Its creator counts it on the ticket (``ticket.add()``; the loop
    adds a record's items at once), so a recipient costs one allocation.

    Slotted, with a positional ``__init__`` (not a dataclass): one is built per recipient."""

    __slots__ = ("rule", "shape", "identity", "payload", "attempts", "first_failure", "state_key")

    def __init__(
        self,
        ticket: Ticket,
        rule: str,
        shape: Shape,
        identity: Any,
        payload: Any,
        state_key: str | None = None,
    ) -> None:
        self.ticket = ticket
        self.open = True  # counted by the creator (Hold(..., counted=True), inlined)
        self.rule = rule
        self.shape = shape
        self.identity = identity
        self.payload = payload
        self.attempts = 0
        self.first_failure = 0.0
        self.state_key = state_key  # schedule lifecycle key ("schedule/<name>/<business key>")

    def moved(self) -> None:
        """The action moved to another item (which took over the count): this one is done
        without releasing, so a late release of it only counts as repeated."""
        self.open = False

    def __repr__(self) -> str:
        return f"Item({self.rule!r}, {self.shape.path!r}, {self.identity!r}, open={self.open})"


Builder = Callable[[Event], tuple[Shape, Any, Any]]
"""An action compiled for one rule: event -> (shape, identity, payload)."""
