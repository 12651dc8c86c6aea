"""Test tiers: unit tests need nothing; integration tests get a real Kafka broker.

The broker comes from ``KAFKA_BOOTSTRAP`` when set, otherwise the project's harness
(``scripts/local-kafka``) fetches Apache Kafka from Maven Central and starts it once per run.
In CI (``CI`` set) integration tests never skip: a missing broker fails them.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]


def _harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "local_kafka", REPO / "scripts" / "local_kafka.py"
    )
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def kafka_harness() -> ModuleType:
    return _harness()


@pytest.fixture(scope="session")
def kafka_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kafka-broker")


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_harness: ModuleType, kafka_state_dir: Path) -> Iterator[str]:
    existing = os.environ.get("KAFKA_BOOTSTRAP")
    if existing:
        yield existing
        return
    bootstrap: str = kafka_harness.start(kafka_state_dir, fresh=True)
    try:
        yield bootstrap
    finally:
        kafka_harness.stop(kafka_state_dir)


@pytest.fixture(scope="session")
def registry_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Confluent-compatible schema registry: Apicurio from Maven Central
    (``scripts/local-registry``), or ``BRAZE_BRIDGE_SCHEMA_REGISTRY_URL`` when set."""
    import subprocess
    import sys

    external = os.environ.get("BRAZE_BRIDGE_SCHEMA_REGISTRY_URL")
    if external:
        yield external
        return
    state_dir = tmp_path_factory.mktemp("apicurio")
    script = str(REPO / "scripts" / "local_registry.py")
    args = ["--state-dir", str(state_dir)]
    proc = subprocess.run([sys.executable, script, "start", *args], capture_output=True, text=True)
    try:
        if proc.returncode != 0:
            if proc.returncode == 3:  # no suitable Java / Maven: skipped (fails in CI)
                pytest.skip(proc.stderr.strip().splitlines()[-1])
            pytest.fail(f"local registry did not start:\n{proc.stderr[-3000:]}")
        yield proc.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([sys.executable, script, "stop", *args], capture_output=True, text=True)


@pytest.fixture(autouse=True)
def _stop_leftover_processes() -> Iterator[None]:
    """A test that fails half-way must not leave its sandbox or bridge running."""
    yield
    from tests.support.procs import stop_all

    stop_all()


@pytest.fixture(autouse=True)
def _forget_registered_secrets() -> Iterator[None]:
    """The log scrubber's secrets are process-wide: one test's keys must not mask the next
    test's log lines."""
    yield
    from bridge.ops import logs

    logs._secrets.clear()


_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("CI") and _skipped and exitstatus == 0:
        print(f"\nCI: {len(_skipped)} test(s) skipped; integration tiers must not skip:")
        for nodeid in _skipped:
            print(f"  {nodeid}")
        session.exitstatus = 1
