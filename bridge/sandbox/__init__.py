"""Braze sandbox: a strict local stand-in for Braze's REST messaging API (docs/sandbox.md).

Python API::

    from bridge.sandbox import SandboxServer, SandboxOptions

    srv = SandboxServer(SandboxOptions(port=0, campaign_ids=frozenset({"c1"})))
    url = srv.start_in_thread()  # "http://127.0.0.1:PORT"
    ...
    srv.stop()

Choices made where Braze's documentation is silent or ambiguous (UNCONFIRMED points of
docs/braze-api.md; details in docs/sandbox.md "Choices"):

* Success status: 201 for /canvas/trigger/send and /messages/live_activity/update (documented),
  200 for the others; per-endpoint override via `success_status`.
* Schedule update/delete answer `{"message": "success"}`; an unknown, already-deleted or
  foreign `schedule_id` (other kind or other campaign/canvas id) → 400 "Invalid schedule_id".
* `in_local_time`: rejected (400 Bad Request) once the wall-clock time has passed in *all*
  time zones (UTC-12), the object page's wording; `at_optimal_time` once the date has passed.
  No 90-day horizon is enforced.
* `braze_id` is accepted as a recipient identifier.
* `/messages/scheduled_broadcasts` lists configured dashboard broadcasts and API-created
  schedules (switch off with `list_api_schedules: false`); `end_time` is compared as a UTC
  instant (naive values are UTC).
* `/sends/id/create`: each new (campaign_id, send_id) pair costs one unit of the daily quota;
  re-creating an existing pair succeeds with the same send_id and costs nothing.
* Rate limits: the old model (250/min broadcast pool, one shared hourly pool) with an optional
  NEW-model per-unique-audience broadcast limit; `/messages/schedule/create` stays in the
  default pool (as its page says). No `Retry-After` header is sent. Requests that pass auth and
  body parsing count against their pool even when validation then fails.
* `/campaigns/trigger/send` to a paused/archived campaign: no special handling (undocumented).
* Connection-level: chunked request bodies → 411; wrong method on a known path → 405.
"""

from __future__ import annotations

from bridge.sandbox.options import SandboxOptions
from bridge.sandbox.server import SandboxServer

__all__ = ["SandboxOptions", "SandboxServer"]
