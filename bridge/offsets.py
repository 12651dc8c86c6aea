"""At-least-once bookkeeping: per-partition watermarks over out-of-order completions.

Every consumed record gets a :class:`Ticket` counting the actions still open for it (Braze
items, dead-letter writes, shadow records, state writes), each held by a :class:`Hold` that
releases it exactly once. Requests complete out of order; a partition's commit position only
advances past a record when it and every earlier record of the partition are final
(accepted or dead-lettered). That position is what gets committed.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from bridge.completions import CompletionLog
from bridge.models import Record


class Ticket:
    """Open actions of one record. ``pending == 0`` means final."""

    __slots__ = ("record", "offset", "pending", "tracker", "dead_lettered", "size", "bulk")

    def __init__(self, record: Record, tracker: PartitionTracker, size: int, offset: int) -> None:
        self.record = record
        self.offset = offset  # position in the tracker's partition (replay: the DLQ offset)
        self.pending = 0
        self.tracker = tracker
        self.bulk = False  # every action of the record is bulk (InFlight.bulk_events)
        self.dead_lettered = False
        self.size = size

    @property
    def final(self) -> bool:
        return self.pending == 0

    def add(self, n: int = 1) -> None:
        """Count n more open actions (the bridge counts them through :class:`Hold`)."""
        self.pending += n

    def done(self, n: int = 1) -> None:
        """One (or n) of this record's actions reached a final outcome."""
        self.pending -= n
        if self.pending == 0:
            self.tracker.finished(self)

    def action_final(self, rule: str) -> None:
        """``rule``'s action for this record is final (accepted, or its dead letter acked);
        remembered in the completed-work map while the record has other open actions."""
        if self.pending > 1:
            self.tracker.log.complete_action(self.offset, rule)


class Hold:
    """One open action of a ticket (a Braze item, a dead-letter write, a shadow record, a
    state write), released exactly once: a repeated :meth:`release` (a retried
    acknowledgement, an outcome delivered twice) does nothing but count itself in the
    tracker's ``repeated_releases``, so it can never move a commit position early.

    ``counted``: the ticket already counts this action (its creator called ``add()``); the
    hold only takes over its release. A batch item is a hold
    (:class:`bridge.actions.base.Item` subclasses it)."""

    __slots__ = ("ticket", "open")

    def __init__(self, ticket: Ticket, *, counted: bool = False) -> None:
        if not counted:
            ticket.pending += 1  # Ticket.add, inlined: one hold per recipient on the hot path
        self.ticket = ticket
        self.open = True

    def release(self) -> None:
        """Release the action; a repeat is only counted."""
        ticket = self.ticket
        if self.open:
            self.open = False
            ticket.pending -= 1  # Ticket.done, inlined
            if ticket.pending == 0:
                ticket.tracker.finished(ticket)
        else:
            ticket.tracker.repeated_releases += 1


@dataclass(slots=True)
class PartitionTracker:
    """Ordered tickets of one assigned partition and its commit position."""

    topic: str
    partition: int
    owner: InFlight
    tickets: deque[Ticket] = field(default_factory=deque)
    position: int = -1  # next offset to commit (-1: nothing consumed yet)
    committed: int = -1  # last position handed to commit()
    confirmed: int = -1  # last position Kafka acknowledged
    skipped_to: int = -1  # position after the newest skipped record seen behind open tickets
    revoked: bool = False
    log: CompletionLog = field(default_factory=CompletionLog)  # final work above the position
    open: int = 0  # unfinished records
    bulk_open: int = 0  # of which every action is bulk
    repeated_releases: int = 0  # releases of a hold already released (ignored)

    def track(self, record: Record, size: int, offset: int | None = None) -> Ticket:
        t = Ticket(record, self, size, record.offset if offset is None else offset)
        self.tickets.append(t)
        self.open += 1
        self.owner.events += 1
        self.owner.bytes += size
        return t

    def finished(self, ticket: Ticket) -> None:
        self.log.complete(ticket.offset)
        self.open -= 1
        self.owner.events -= 1
        self.owner.bytes -= ticket.size
        if ticket.bulk:
            self.bulk_open -= 1
            self.owner.bulk_events -= 1

    def mark_bulk(self, ticket: Ticket) -> None:
        """Every action of ``ticket``'s record has a bulk priority."""
        if not ticket.bulk:
            ticket.bulk = True
            self.bulk_open += 1
            self.owner.bulk_events += 1

    @property
    def only_bulk_open(self) -> bool:
        """Every unfinished record of the partition is bulk work (and there is some)."""
        return self.bulk_open > 0 and self.bulk_open == self.open

    def skip(self, offset: int) -> None:
        """A record with no actions: final at once, without a ticket when nothing is open."""
        if not self.tickets:
            self.position = offset + 1
            return
        self.log.complete(offset)  # final above open tickets: remembered in the map
        self.skipped_to = offset + 1

    def oldest_open_ms(self) -> int | None:
        """Kafka timestamp of the oldest record not yet final (valid after ``advance``)."""
        return self.tickets[0].record.timestamp_ms if self.tickets else None

    def advance(self) -> int:
        """Move the position past every final ticket at the head; return it."""
        q = self.tickets
        while q and q[0].pending == 0:
            self.position = q.popleft().offset + 1
        if not q and self.skipped_to > self.position:
            self.position = self.skipped_to
        return self.position


@dataclass(slots=True)
class InFlight:
    """Totals over all partitions, for back-pressure and metrics."""

    events: int = 0
    bytes: int = 0
    bulk_events: int = 0  # of which every action is bulk (priority below BULK_BELOW)
