"""#16 D11: records with random schema ids cannot monopolise the poll thread.

Against the recording registry server over real sockets, answering in 200 ms: each unknown
id used to cost one synchronous round trip, so 100 garbage records delayed another topic's
good events by 18.8 s.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from bridge.decode.registry import SchemaNotFoundError, SchemaRegistryClient
from bridge.errors import SchemaRegistryUnavailable
from tests.support.wait import wait_for

from .conftest import RegistryServer

SCHEMA = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "string"}]}


def test_unknown_ids_use_a_bounded_share_of_time(registry_server: RegistryServer) -> None:
    registry_server.state.delay_s = 0.2
    client = SchemaRegistryClient(registry_server.url)
    blocked = 0.0
    not_found = deferred = 0
    t0 = time.monotonic()
    for schema_id in range(1000, 1040):  # 40 garbage records, each a new id
        t = time.monotonic()
        try:
            client.get_schema(schema_id)
        except SchemaNotFoundError:
            not_found += 1
        except SchemaRegistryUnavailable as exc:
            deferred += 1
            assert "other topics are not delayed" in str(exc)
        blocked += time.monotonic() - t
    wall = time.monotonic() - t0
    assert not_found >= 1
    assert deferred >= 30
    assert registry_server.state.gets() == not_found  # deferred ids cost no request
    assert blocked < 2.0, (blocked, wall)  # was 40 x 0.2 s = 8 s of a blocked poll loop
    client.close()


def test_lookups_resume_once_the_budget_recovers(registry_server: RegistryServer) -> None:
    registry_server.state.delay_s = 0.3
    client = SchemaRegistryClient(registry_server.url)
    with pytest.raises(SchemaNotFoundError):
        client.get_schema(2000)  # 0.3 s spent on a miss: over the 1 s (at 20 %) burst
    sid = registry_server.state.add(SCHEMA)
    with pytest.raises(SchemaRegistryUnavailable):
        client.get_schema(sid)  # deferred: transient, the partition retries later
    registry_server.state.delay_s = 0.0

    def lookup() -> Any:
        try:
            return client.get_schema(sid)
        except SchemaRegistryUnavailable:
            return None  # deferred while the budget recovers

    found = wait_for("the lookup budget to recover", lookup, 10)
    assert json.loads(found.schema) == SCHEMA
    with pytest.raises(SchemaNotFoundError):
        client.get_schema(2000)  # negatively cached: no request, no budget
    client.close()
