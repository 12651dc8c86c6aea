"""What the sandbox remembers: recorded requests, counters, schedules and send ids."""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson

from bridge.sandbox.schedule_object import Schedule

LOCAL_STARTED = "the local-time send has started in some time zone; Braze does not apply it"
MAX_IGNORED_UPDATES = 20
# by_path counts the Braze endpoints and /_sandbox routes; any other path is counted here,
# so unknown paths cannot grow the statistics without bound.
OTHER_PATHS = "(other)"
MAX_STAT_PATHS = 64


@dataclass(slots=True)
class ScheduleEntry:
    schedule_id: str
    kind: str  # "messages" | "campaign" | "canvas"
    target_id: str | None  # campaign_id / canvas_id (messages: optional campaign_id)
    schedule: Schedule
    recipients: int
    broadcast: bool
    dispatch_id: str
    created_at: float
    updated_at: float
    # updates answered success but not applied (local-time schedule already started)
    ignored_updates: list[dict[str, Any]] = field(default_factory=list)
    ignored_updates_total: int = 0

    def ignore_update(self, now: float, body: dict[str, Any]) -> None:
        self.ignored_updates_total += 1
        update: dict[str, Any] = {k: body[k] for k in ("schedule", "messages") if k in body}
        self.ignored_updates.append({"time": now, "reason": LOCAL_STARTED, **update})
        del self.ignored_updates[:-MAX_IGNORED_UPDATES]

    def to_json(self, company_time_zone: str) -> dict[str, Any]:
        return {
            "schedule_id": self.schedule_id,
            "kind": self.kind,
            "target_id": self.target_id,
            "schedule": {
                "time": self.schedule.time,
                "in_local_time": self.schedule.in_local_time,
                "at_optimal_time": self.schedule.at_optimal_time,
            },
            "next_send_time": self.schedule.next_send_time(),
            "schedule_type": self.schedule.schedule_type(company_time_zone),
            "recipients": self.recipients,
            "broadcast": self.broadcast,
            "dispatch_id": self.dispatch_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "ignored_updates": self.ignored_updates,
            "ignored_updates_total": self.ignored_updates_total,
        }

    def broadcast_item(self, company_time_zone: str) -> dict[str, Any]:
        """This schedule in the GET /messages/scheduled_broadcasts item shape."""
        canvas = self.kind == "canvas"
        return {
            "name": f"API schedule {self.schedule_id}",
            "id": self.target_id or self.schedule_id,
            "type": "Canvas" if canvas else "Campaign",
            "tags": [],
            "next_send_time": self.schedule.next_send_time(),
            "schedule_type": self.schedule.schedule_type(company_time_zone),
        }


class Ids:
    """Random hex ids (dispatch_id, schedule_id, send_id) from a seeded RNG."""

    def __init__(self, seed: int | None) -> None:
        self._rng = random.Random(None if seed is None else seed + 1)

    def hex(self, nbytes: int = 16) -> str:
        return f"{self._rng.getrandbits(nbytes * 8):0{nbytes * 2}x}"


# seq, method, path, query, body JSON, status, response JSON, arrival, fault, answer delay
Record = tuple[
    int, str, str, str, bytes | None, int, bytes | None, float, str | None, float,
    tuple[int, int, int] | None,
]  # fmt: skip


class State:
    def __init__(
        self, record_limit: int, seed: int | None, record_max_bytes: int = 256 << 20
    ) -> None:
        self.record_limit = record_limit
        self.record_max_bytes = record_max_bytes
        self.record_bytes = 0
        self.records: deque[Record] = deque()
        self.seq = 0
        self.ids = Ids(seed)
        self.schedules: dict[str, ScheduleEntry] = {}
        self.deleted_schedules: set[str] = set()
        # (campaign_id, send_id) -> epoch of creation
        self.send_ids: dict[tuple[str, str], float] = {}
        self.reset_stats()

    def reset_stats(self) -> None:
        self.by_path: dict[str, dict[int, int]] = {}
        self.total = 0
        self.accepted = 0
        self.accepted_recipients = 0
        self.rate_limited = 0
        self.fault_counts: dict[str, int] = {}

    def set_record_limit(self, limit: int, max_bytes: int | None = None) -> None:
        self.record_limit = limit
        if max_bytes is not None:
            self.record_max_bytes = max_bytes
        self._trim()

    def clear_records(self) -> int:
        n = len(self.records)
        self.records.clear()
        self.record_bytes = 0
        return n

    @staticmethod
    def _size(rec: Record) -> int:
        # the variable parts plus a fixed overhead per record (tuple, ints, floats)
        return 200 + len(rec[2]) + len(rec[3]) + len(rec[4] or b"") + len(rec[6] or b"")

    def _trim(self) -> None:
        records = self.records
        while records and (
            len(records) > self.record_limit or self.record_bytes > self.record_max_bytes
        ):
            self.record_bytes -= self._size(records.popleft())

    def record(
        self,
        *,
        arrival: float,
        method: str,
        path: str,
        query: str,
        body: bytes | None,
        status: int,
        response: bytes | None,
        recipients: int = 0,
        fault: str | None = None,
        known_path: bool = True,
        delay_s: float = 0.0,
        rate: tuple[int, int, int] | None = None,
    ) -> None:
        """Count one request and keep it (as raw JSON bytes: cheap for memory and the GC)."""
        self.seq += 1
        self.total += 1
        counts = self.by_path.get(path)
        if counts is None:
            key = path if known_path and len(self.by_path) < MAX_STAT_PATHS else OTHER_PATHS
            counts = self.by_path.setdefault(key, {})
        counts[status] = counts.get(status, 0) + 1
        if 200 <= status < 300:
            self.accepted += 1
            self.accepted_recipients += recipients
        elif status == 429:
            self.rate_limited += 1
        if fault is not None:
            self.fault_counts[fault] = self.fault_counts.get(fault, 0) + 1
        if self.record_limit:
            rec = (
                self.seq, method, path, query, body, status, response, arrival, fault, delay_s,
                rate,
            )  # fmt: skip
            self.records.append(rec)
            self.record_bytes += self._size(rec)
            if len(self.records) > self.record_limit or self.record_bytes > self.record_max_bytes:
                self._trim()

    @staticmethod
    def _entry(rec: Record) -> dict[str, Any]:
        seq, method, path, query, body, status, response, arrival, fault, delay_s, rate = rec
        entry: dict[str, Any] = {
            "seq": seq,
            "method": method,
            "path": path,
            "query": query,
            "body": None if not body else orjson.Fragment(body),
            "status": status,
            "response": None if not response else orjson.Fragment(response),
            "time": arrival,
        }
        if fault is not None:
            entry["fault"] = fault
        if delay_s:  # injected latency/hang: the request was open from "time" to "answer_at"
            entry["answer_at"] = arrival + delay_s
        if rate is not None:  # the X-RateLimit-* headers of the answer
            entry["rate_limit"] = {"limit": rate[0], "remaining": rate[1], "reset": rate[2]}
        return entry

    def query_records(
        self, since: int | None, path: str | None, limit: int | None
    ) -> list[dict[str, Any]]:
        """Recorded requests (oldest first) with seq > since, optionally of one path."""
        out: list[Record] = []
        if since is not None:
            for rec in reversed(self.records):  # in seq order; walk back from the newest
                if rec[0] <= since:
                    break
                if path is None or rec[2] == path:
                    out.append(rec)
            out.reverse()
        else:
            out = [r for r in self.records if path is None or r[2] == path]
        if limit is not None:
            out = out[:limit]
        return [self._entry(r) for r in out]

    def stats(self) -> dict[str, Any]:
        return {
            "requests_total": self.total,
            "accepted_total": self.accepted,
            "accepted_recipients": self.accepted_recipients,
            "rate_limited_total": self.rate_limited,
            "faults": dict(self.fault_counts),
            "by_path": {
                path: {str(status): n for status, n in sorted(counts.items())}
                for path, counts in sorted(self.by_path.items())
            },
            "recorded": len(self.records) if self.record_limit else 0,
            "recorded_bytes": self.record_bytes,
            "last_seq": self.seq,
            "schedules": len(self.schedules),
            "send_ids": len(self.send_ids),
        }
