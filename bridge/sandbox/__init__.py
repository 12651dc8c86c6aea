"""Braze sandbox: a strict local stand-in for Braze's REST messaging API (docs/sandbox.md).

Python API::

    from bridge.sandbox import SandboxServer, SandboxOptions

    srv = SandboxServer(SandboxOptions(port=0, campaign_ids=frozenset({"c1"})))
    url = srv.start_in_thread()  # "http://127.0.0.1:PORT"
    ...
    srv.stop()

Choices made where Braze's documentation is silent or ambiguous (UNCONFIRMED points of
the team's Braze reference, shared/docs/braze-api.md, outside this repository; details in
docs/sandbox.md "Choices"):

* Success status: 201 for /canvas/trigger/send and /messages/live_activity/update (documented),
  200 for the others; per-endpoint override via `success_status`.
* Schedule update/delete answer `{"message": "success"}`; an unknown, already-deleted or
  foreign `schedule_id` (other kind or other campaign/canvas id) → 400 "Invalid schedule_id".
* `in_local_time`: rejected (400 Bad Request) once the wall-clock time has passed in *all*
  time zones (UTC-12), the object page's wording; `at_optimal_time` once the date has passed.
  No 90-day horizon is enforced.
* `braze_id` is accepted as a recipient identifier.
* `/messages/scheduled_broadcasts` lists the configured dashboard broadcasts (API-created
  schedules only with `list_api_schedules: true`); `end_time` is read as 00:00 UTC of its date.
* `/sends/id/create`: each new (campaign_id, send_id) pair costs one unit of the daily quota;
  re-creating an existing pair succeeds with the same send_id and costs nothing (the
  `duplicate_send_id_status` fault answers it with a 4xx instead). A `send_id` used in a send
  must have been created for that campaign (`strict_send_ids`).
* Targeting: an audience/segment without recipients needs `broadcast: true`
  (`require_broadcast_flag`); `segment_id` is a parameter of `/messages/*` only.
* Lenient where Braze's examples are: `prioritization` on any recipient, integer
  `external_user_id`, a zone designator on local times (ignored), both schedule flags.
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
