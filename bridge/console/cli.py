"""``braze-bridge console`` arguments and entry point."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from bridge.console.api import Console, ConsoleConfig
from bridge.console.server import is_loopback, make_server

TOKEN_ENV = "BRAZE_SANDBOX_TOKEN"  # noqa: S105 - the name of a variable


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", "-c", required=True, help="the bridge's YAML config")
    p.add_argument("--sandbox", metavar="URL", help="a braze-bridge sandbox: inbox and faults")
    p.add_argument(
        "--sandbox-token",
        default=None,
        help=f"admin token for the sandbox's state-changing calls (or ${TOKEN_ENV}; default: "
        "the config's API key when the config points at this sandbox)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    p.add_argument("--port", type=int, default=4020, help="port (0: any free port)")
    p.add_argument(
        "--golden-dir", default="golden", help="where 'save as golden case' writes (./golden)"
    )
    p.add_argument(
        "--events", default=None, help="sample events to pick from (default: <config dir>/events)"
    )


def _token(args: argparse.Namespace, console: Console) -> str | None:
    if args.sandbox_token:
        return str(args.sandbox_token)
    if os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV]
    try:
        loaded = console.workspace.get()
    except Exception:  # noqa: BLE001 - an invalid config is shown on the page
        return None
    same = loaded.settings.braze.rest_endpoint.rstrip("/") == str(args.sandbox).rstrip("/")
    key = loaded.settings.braze.api_key.get_secret_value()
    if same and not any(key == "unset-" + name for name in loaded.missing):
        # Only to the sandbox the bridge itself sends to: never hand a production key to
        # another URL.
        return key
    return os.environ.get("BRAZE_SANDBOX_API_KEY")


def run(args: argparse.Namespace) -> int:
    config = Path(args.config)
    events = Path(args.events) if args.events else config.parent / "events"
    cfg = ConsoleConfig(
        config=config,
        golden_dir=Path(args.golden_dir),
        events_dir=events,
        sandbox_url=args.sandbox,
    )
    console = Console(cfg)
    if console.sandbox is not None:
        token = _token(args, console)
        if token:
            console.sandbox.http.headers["Authorization"] = f"Bearer {token}"
    if not is_loopback(args.host):
        print(
            f"braze-bridge console: warning: listening on {args.host}, not loopback: anyone "
            "who reaches it can read the rules and the sandbox's inbox",
            file=sys.stderr,
        )
    server = make_server(console, args.host, args.port)
    host, port = str(server.server_address[0]), int(server.server_address[1])
    shown = f"[{host}]" if ":" in host else host
    print(f"braze-bridge console: http://{shown}:{port}/", flush=True)

    def stop(_sig: int, _frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if console.sandbox is not None:
            console.sandbox.close()
    return 0
