"""The suite's one wait: it names what it waited for when it gives up."""

from __future__ import annotations

import httpx
import pytest

from tests.support.wait import poll_until, wait_for


def test_wait_for_returns_the_first_truthy_value() -> None:
    answers = iter([None, 0, [], "ready"])
    assert wait_for("the answer", lambda: next(answers), 5, 0) == "ready"


def test_wait_for_names_the_condition_and_the_last_value_on_timeout() -> None:
    with pytest.raises(AssertionError) as info:
        wait_for("the queue to drain", lambda: 0, 0.05, 0.01)
    assert str(info.value) == "timed out after 0.05s waiting for the queue to drain (last: 0)"


def test_a_probe_that_cannot_connect_yet_counts_as_not_yet_and_is_reported() -> None:
    def refused() -> None:
        raise httpx.ConnectError("connection refused")

    with pytest.raises(AssertionError) as info:
        wait_for("the metrics endpoint", refused, 0.05, 0.01)
    assert "waiting for the metrics endpoint" in str(info.value)
    assert "ConnectError('connection refused')" in str(info.value)


def test_other_errors_are_not_swallowed() -> None:
    with pytest.raises(KeyError):
        wait_for("a key", lambda: {}["k"], 1, 0)


def test_poll_until_gives_none_on_timeout() -> None:
    assert poll_until(lambda: False, 0.05, 0.01) is None
    assert poll_until(lambda: 3, 0.05, 0.01) == 3
