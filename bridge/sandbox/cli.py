"""`braze-bridge sandbox` / `python -m bridge.sandbox`: run the Braze sandbox server.

Precedence of settings: command-line flags > `--config FILE` > environment
(`BRAZE_SANDBOX_API_KEY`) > built-in defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any

from bridge.sandbox.fault_settings import FaultError
from bridge.sandbox.faults import Faults
from bridge.sandbox.options import (
    OptionsError,
    SandboxOptions,
    apply_mapping,
    load_file_or_json,
)
from bridge.sandbox.server import SandboxServer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the sandbox options to `parser` (all default to None = "not given").

    One function per concern, called in the order `--help` lists them."""
    _add_server(parser)
    _add_known_ids(parser)
    _add_rate_limits(parser)
    _add_answers_and_faults(parser)
    _add_storage(parser)
    _add_admin(parser)
    _add_strictness(parser)
    parser.add_argument(
        "--config", metavar="FILE", help="JSON/YAML file with the same settings (snake_case)"
    )


def _add_server(parser: argparse.ArgumentParser) -> None:
    """Where the sandbox listens and the API key it accepts."""
    a = parser.add_argument
    a("--host", help="address to bind (default 127.0.0.1)")
    a("--port", type=int, help="port to bind; 0 picks a free port (default 4010)")
    a(
        "--api-key",
        help="accepted REST API key (default: $BRAZE_SANDBOX_API_KEY or 'sandbox-api-key')",
    )


def _add_known_ids(parser: argparse.ArgumentParser) -> None:
    """The campaigns and Canvases the sandbox knows, and the Canvases it answers as paused or
    archived."""
    a = parser.add_argument
    a(
        "--campaign-id",
        action="append",
        dest="campaign_ids",
        metavar="ID",
        help="known campaign id (repeatable); when given, other ids get 400 Invalid Campaign ID",
    )
    a(
        "--canvas-id",
        action="append",
        dest="canvas_ids",
        metavar="ID",
        help="known Canvas id (repeatable); when given, other ids get 400 Invalid Canvas ID",
    )
    a(
        "--paused-canvas",
        action="append",
        dest="paused_canvases",
        metavar="ID",
        help="Canvas id answered with the 'paused' notice (repeatable)",
    )
    a(
        "--archived-canvas",
        action="append",
        dest="archived_canvases",
        metavar="ID",
        help="Canvas id answered with the 'archived' notice (repeatable)",
    )


def _add_rate_limits(parser: argparse.ArgumentParser) -> None:
    """Budgets and windows of the default, broadcast and sends_id pools."""
    a = parser.add_argument
    a("--hourly-limit", type=int, help="default pool budget per window (default 250000)")
    a("--hourly-window-s", type=int, help="default pool window in seconds (default 3600)")
    a("--broadcast-limit", type=int, help="broadcast pool budget per window (default 250)")
    a("--broadcast-window-s", type=int, help="broadcast pool window in seconds (default 60)")
    a(
        "--broadcast-audience-limit",
        type=int,
        help="optional per-unique-audience broadcast budget per window (default off)",
    )
    a("--sends-id-daily-limit", type=int, help="new send ids per window (default 100)")
    a("--sends-id-window-s", type=int, help="sends_id pool window in seconds (default 86400)")


def _add_answers_and_faults(parser: argparse.ArgumentParser) -> None:
    """Success statuses per endpoint, injected faults and the random seed."""
    a = parser.add_argument
    a(
        "--success-status",
        action="append",
        metavar="PATH=CODE",
        help="success status of an endpoint, e.g. /campaigns/trigger/send=201 (repeatable)",
    )
    a("--faults", metavar="FILE_OR_JSON", help="fault settings: inline JSON or a JSON/YAML file")
    a("--seed", type=int, help="seed of the random generator (faults and ids)")


def _add_storage(parser: argparse.ArgumentParser) -> None:
    """How many recorded requests the sandbox keeps, by count and by memory."""
    a = parser.add_argument
    a(
        "--record-limit",
        type=int,
        help="recorded requests kept (default 100000; 0 = record nothing, keep stats)",
    )
    a(
        "--record-max-bytes",
        type=int,
        help="memory bound of the recorded requests in bytes (default 268435456)",
    )


def _add_admin(parser: argparse.ArgumentParser) -> None:
    """Who may call the /_sandbox/* API."""
    a = parser.add_argument
    a(
        "--admin-token",
        help="second secret accepted by state-changing /_sandbox/* calls "
        "(default: $BRAZE_SANDBOX_ADMIN_TOKEN; the API key is always accepted)",
    )
    a(
        "--protect-inspection",
        action="store_const",
        const=True,
        help="require the API key or admin token for GET /_sandbox/* too",
    )


def _add_strictness(parser: argparse.ArgumentParser) -> None:
    """The readings of Braze's documentation where it is silent or ambiguous: the schedule
    listing, targeting, send ids and the schedule object."""
    flag = parser.add_argument
    flag(
        "--list-api-schedules",
        action="store_const",
        const=True,
        help="also list API-created schedules in GET /messages/scheduled_broadcasts",
    )
    flag(
        "--lenient-targeting",
        dest="require_broadcast_flag",
        action="store_const",
        const=False,
        help="accept an audience/segment_id without broadcast: true (older sandbox reading)",
    )
    flag(
        "--lenient-send-ids",
        dest="strict_send_ids",
        action="store_const",
        const=False,
        help="accept send_ids that were not created for the request's campaign",
    )
    flag(
        "--strict-schedule",
        action="store_const",
        const=True,
        help="refuse both schedule flags together and zone designators on local times",
    )


_FLAG_KEYS = (
    "host", "port", "api_key", "campaign_ids", "canvas_ids", "paused_canvases",
    "archived_canvases", "hourly_limit", "hourly_window_s", "broadcast_limit",
    "broadcast_window_s", "broadcast_audience_limit", "sends_id_daily_limit",
    "sends_id_window_s", "seed", "record_limit", "record_max_bytes", "admin_token",
    "protect_inspection", "list_api_schedules", "require_broadcast_flag", "strict_send_ids",
)  # fmt: skip


def build_options(args: argparse.Namespace) -> SandboxOptions:
    """SandboxOptions from parsed arguments; raises OptionsError/FaultError/OSError."""
    opts = SandboxOptions()
    if getattr(args, "config", None):
        opts = apply_mapping(opts, load_file_or_json(args.config))
    given: dict[str, Any] = {}
    for key in _FLAG_KEYS:
        value = getattr(args, key, None)
        if value is not None:
            given[key] = value
    if getattr(args, "strict_schedule", None):
        given["allow_both_schedule_flags"] = False
        given["allow_local_time_offset"] = False
    if getattr(args, "faults", None):
        given["faults"] = load_file_or_json(args.faults)
    if getattr(args, "success_status", None):
        statuses = dict(opts.success_status)
        for item in args.success_status:
            path, sep, code = item.partition("=")
            if not sep or not code.isdigit():
                raise OptionsError(f"--success-status: expected PATH=CODE, got {item!r}")
            statuses[path] = int(code)
        given["success_status"] = statuses
    opts = apply_mapping(opts, given)
    Faults.parse(opts.faults, 0.0, opts.seed)  # check early
    return opts


async def _serve(opts: SandboxOptions) -> None:
    server = SandboxServer(opts)
    url = await server.start()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: asyncio.ensure_future(server.close()))
    print(f"braze sandbox listening on {url}", flush=True)
    await server.wait_stopped()


def run(args: argparse.Namespace) -> int:
    try:
        opts = build_options(args)
    except (OptionsError, FaultError, OSError, ValueError) as exc:
        print(f"braze sandbox: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(opts))
    except OSError as exc:
        print(f"braze sandbox: cannot listen on {opts.host}:{opts.port}: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="braze-bridge sandbox",
        description="Local strict Braze REST messaging API sandbox (see docs/sandbox.md).",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))
