from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# `.venv/bin/pytest` does not put the project root on sys.path (the package is not installed
# in the venv); make `import bridge` work however pytest is started.
ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from sandbox_helpers import API_KEY, Sandbox  # noqa: E402

from bridge.sandbox import SandboxOptions, SandboxServer  # noqa: E402


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., Sandbox]]:
    """Start sandboxes (port 0, api key `test-key`) that are stopped after the test."""
    started: list[Sandbox] = []

    def make(**options: Any) -> Sandbox:
        options.setdefault("api_key", API_KEY)
        options.setdefault("port", 0)
        server = SandboxServer(SandboxOptions(**options))
        sb = Sandbox(server, server.start_in_thread())
        started.append(sb)
        return sb

    yield make
    for sb in started:
        sb.close()


@pytest.fixture
def sandbox(make_sandbox: Callable[..., Sandbox]) -> Sandbox:
    return make_sandbox()
