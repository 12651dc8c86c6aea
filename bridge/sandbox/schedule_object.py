"""The schedule object (§2.14): `time`, `in_local_time`, `at_optimal_time`, and when a
local-time schedule has started."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bridge.sandbox.fields import Invalid, as_utc, bad_request, optional_bool, parse_iso

# in_local_time: the latest time zone is UTC-12, so a wall-clock time has passed
# "in all time zones" once it is more than 12 h behind UTC.
LATEST_ZONE_OFFSET = timedelta(hours=12)
# ...and the earliest is UTC+14: a wall-clock time is first reached 14 h before UTC.
EARLIEST_ZONE_OFFSET = timedelta(hours=14)


@dataclass(frozen=True, slots=True)
class Schedule:
    time: str
    next_send_utc: datetime  # aware UTC; local/optimal wall times are taken as UTC
    in_local_time: bool
    at_optimal_time: bool

    def schedule_type(self, company_time_zone: str) -> str:
        if self.in_local_time:
            return "local_time_zones"
        if self.at_optimal_time:
            return "intelligent_delivery"
        return company_time_zone

    def next_send_time(self) -> str:
        if self.in_local_time or self.at_optimal_time:
            return self.next_send_utc.replace(tzinfo=None).isoformat()
        return self.next_send_utc.isoformat()


@dataclass(frozen=True, slots=True)
class ScheduleRules:
    """The unconfirmed schedule-object readings (options of the sandbox)."""

    both_flags_ok: bool = True  # Braze's own example sets in_local_time and at_optimal_time
    local_offset_ok: bool = True  # Braze's update examples send "…Z" with in_local_time


LENIENT_SCHEDULE = ScheduleRules()


def check_schedule(value: Any, now: datetime, rules: ScheduleRules = LENIENT_SCHEDULE) -> Schedule:
    if value is None:
        raise Invalid("schedule is required")
    if not isinstance(value, dict):
        raise Invalid("schedule must be an object")
    time_s = value.get("time")
    if time_s is None:
        raise Invalid("schedule.time is required")
    dt = parse_iso(time_s)
    if dt is None:
        raise bad_request(f"schedule.time {time_s!r} is not an ISO-8601 datetime")
    local = optional_bool(value, "in_local_time", "schedule.") or False
    optimal = optional_bool(value, "at_optimal_time", "schedule.") or False
    if local and optimal and not rules.both_flags_ok:
        raise Invalid("schedule: in_local_time and at_optimal_time cannot both be true")
    if (local or optimal) and dt.tzinfo is not None:
        if not rules.local_offset_ok:
            flag = "in_local_time" if local else "at_optimal_time"
            raise Invalid(f"schedule.time must not include a time zone offset when {flag} is true")
        dt = dt.replace(tzinfo=None)  # a wall-clock time: the designator is ignored
    utc = as_utc(dt)
    if local and utc + LATEST_ZONE_OFFSET < now:
        raise bad_request(
            "schedule.time has already passed in all time zones (in_local_time is true)"
        )
    if optimal and utc.date() < (now - LATEST_ZONE_OFFSET).date():
        raise bad_request("schedule.time is a date in the past (at_optimal_time is true)")
    return Schedule(str(time_s), utc, local, optimal)


def local_send_started(sched: Schedule, now: datetime) -> bool:
    """Whether a local-time schedule's wall time has passed in some zone (UTC+14 first)."""
    return sched.in_local_time and sched.next_send_utc - EARLIEST_ZONE_OFFSET <= now
