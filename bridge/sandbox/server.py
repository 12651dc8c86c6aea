"""`SandboxServer`: the Braze sandbox's server API, in asyncio or on a thread of its own.

The HTTP/1.1 handling of each connection is in `bridge.sandbox.connection`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from bridge.sandbox.app import SandboxApp
from bridge.sandbox.connection import HttpProtocol
from bridge.sandbox.options import SandboxOptions


class SandboxServer:
    """The Braze sandbox; `start_in_thread()` for in-process use, `serve()` in asyncio."""

    def __init__(self, options: SandboxOptions | None = None) -> None:
        self.options = options or SandboxOptions()
        self.app = SandboxApp(self.options)
        self.connections: set[HttpProtocol] = set()
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Event | None = None
        self.host = self.options.host
        self.port = self.options.port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> str:
        """Bind and start accepting; returns the base URL (with the real port)."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._stopped = asyncio.Event()
        self._server = await loop.create_server(
            lambda: HttpProtocol(self), self.options.host, self.options.port, backlog=1024
        )
        sock = self._server.sockets[0]
        self.port = sock.getsockname()[1]
        return self.url

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.close()
            if conn.task is not None:
                conn.task.cancel()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None
        if self._stopped is not None:
            self._stopped.set()

    async def wait_stopped(self) -> None:
        assert self._stopped is not None  # noqa: S101
        await self._stopped.wait()

    def start_in_thread(self, timeout: float = 10.0) -> str:
        """Run the server on its own event loop in a daemon thread; returns the base URL."""
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # noqa: BLE001 - reported to the caller
                errors.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_until_complete(self.wait_stopped())
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name="braze-sandbox", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError("braze sandbox did not start")
        if errors:
            raise errors[0]
        return self.url

    def stop(self, timeout: float = 10.0) -> None:
        """Stop a server started with `start_in_thread()`."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return
        fut = asyncio.run_coroutine_threadsafe(self.close(), loop)
        with contextlib.suppress(Exception):
            fut.result(timeout)
        thread.join(timeout)
        self._thread = None

    def __enter__(self) -> SandboxServer:
        self.start_in_thread()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
