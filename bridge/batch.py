"""Batch stage: group items per request shape; send at ``max_items`` or after ``linger_ms``.

Braze collapses duplicate recipients inside one request, so an item whose identity is
already in the open batch goes to the next batch of the same shape: nothing is lost and
nobody is merged.
"""

from __future__ import annotations

import time

from bridge.actions.base import Item, Shape


class Batch:
    """Items that will be sent as one request."""

    __slots__ = ("shape", "items", "identities", "created")

    def __init__(self, shape: Shape, created: float) -> None:
        self.shape = shape
        self.items: list[Item] = []
        self.identities: set[object] = set()
        self.created = created

    def __len__(self) -> int:
        return len(self.items)

    def body(self) -> dict[str, object]:
        return self.shape.body([i.payload for i in self.items])


class Batcher:
    """Open batches per shape, flushed by size or age."""

    def __init__(self, linger_s: float) -> None:
        self.linger_s = linger_s
        self._open: dict[Shape, list[Batch]] = {}
        self._oldest = float("inf")

    def add(self, item: Item, now: float | None = None) -> Batch | None:
        """Add an item; return a batch that became full (to send now), else None."""
        shape = item.shape
        if shape.list_field is None:
            b = Batch(shape, now if now is not None else time.monotonic())
            b.items.append(item)
            return b
        batches = self._open.get(shape)
        if batches is None:
            batches = self._open[shape] = []
        ident = item.identity
        target = None
        for b in batches:
            if ident not in b.identities:
                target = b
                break
        if target is None:
            t = now if now is not None else time.monotonic()
            target = Batch(shape, t)
            batches.append(target)
            if t < self._oldest:
                self._oldest = t
        target.items.append(item)
        target.identities.add(ident)
        if len(target.items) >= shape.max_items:
            batches.remove(target)
            if not batches:
                del self._open[shape]
            self._recompute_oldest()
            return target
        return None

    def _recompute_oldest(self) -> None:
        self._oldest = min(
            (b.created for bs in self._open.values() for b in bs), default=float("inf")
        )

    def next_deadline(self) -> float:
        """Monotonic time at which the oldest open batch must go (inf when none)."""
        return self._oldest + self.linger_s

    def due(self, now: float) -> list[Batch]:
        """Remove and return the batches older than linger."""
        if now < self._oldest + self.linger_s:
            return []
        limit = now - self.linger_s
        out: list[Batch] = []
        for shape in list(self._open):
            keep: list[Batch] = []
            for b in self._open[shape]:
                (out if b.created <= limit else keep).append(b)
            if keep:
                self._open[shape] = keep
            else:
                del self._open[shape]
        self._recompute_oldest()
        return out

    def drain(self) -> list[Batch]:
        """Remove and return every open batch (shutdown, revoke, reload)."""
        out = [b for bs in self._open.values() for b in bs]
        self._open.clear()
        self._oldest = float("inf")
        return out

    def open_items(self) -> int:
        return sum(len(b) for bs in self._open.values() for b in bs)
