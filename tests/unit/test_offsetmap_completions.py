"""The committer's hooks around the completed-work map (issue 11), with plain data.

A "crash" here is what the broker keeps: the last (position, metadata) committed; a new
:class:`CompletionLog` is built from it, as after a restart or a rebalance.
"""

from __future__ import annotations

import random

from bridge.completions import MIN_BUDGET, CompletionLog, assign_all, refused_too_large


def commit(log: CompletionLog, position: int, now: float) -> tuple[int, str]:
    text = log.metadata(position)
    log.sent(position, text, now)
    log.acknowledged(position, text)
    return position, text


def restart(committed: tuple[int, str], **kw: float) -> CompletionLog:
    log = CompletionLog(**kw)  # type: ignore[arg-type]
    log.assigned(*committed)
    return log


def test_after_a_crash_only_the_unfinished_events_are_sent_again() -> None:
    log = CompletionLog()
    log.assigned(-1, None)
    hung = 3
    for o in range(100):
        if o != hung:
            log.complete(o)
    broker = commit(log, hung, now=1.0)  # the watermark waits for the hung request
    new = restart(broker)
    resent = [o for o in range(hung, 100) if not new.skip_event(o)]
    assert resent == [hung]
    assert new.skipped().events == 96


def test_a_second_crash_before_the_watermark_moves_still_skips() -> None:
    first = CompletionLog()
    first.assigned(10, "")
    for o in (11, 12, 15):
        first.complete(o)
    broker = commit(first, 10, now=0)
    second = restart(broker)  # nothing new completes before the next crash
    broker = commit(second, 10, now=5)
    third = restart(broker)
    assert [o for o in range(10, 16) if third.skip_event(o)] == [11, 12, 15]


def test_partial_events_skip_the_final_actions_by_rule_name() -> None:
    log = CompletionLog()
    log.assigned(0, "")
    log.complete_action(2, "shipped-push")  # event 2 matched two rules; one is final
    log.complete(1)
    new = restart(commit(log, 0, now=0))
    assert new.skip_event(1)
    assert not new.skip_event(2)
    assert new.skip_action(2, "shipped-push")
    assert not new.skip_action(2, "shipped-email")
    assert not new.skip_action(2, "shipped-push-v2")  # renamed after the crash: sent again
    assert new.skipped().events == 1 and new.skipped().actions == 1


def test_the_watermark_passing_forgets_entries() -> None:
    log = CompletionLog()
    log.assigned(0, "")
    for o in (1, 2, 5):
        log.complete(o)
    log.complete_action(7, "a")
    assert log.size == 4
    _, text = commit(log, 3, now=0)
    assert log.size == 2
    log.complete(2)  # below the position: already committed, ignored
    assert log.size == 2
    assert commit(log, 8, now=1) == (8, "")
    new = restart((3, text))
    assert [o for o in range(3, 9) if new.skip_event(o)] == [5]


def test_due_recommits_the_same_position_when_only_the_map_changed() -> None:
    log = CompletionLog(min_interval_s=0.1)
    log.assigned(0, "")
    assert not log.due(0, now=10.0)  # committed (0, "") and nothing new
    log.complete(4)
    assert log.due(0, now=10.0)
    commit(log, 0, now=10.0)
    assert not log.due(0, now=10.5)  # unchanged since
    log.complete(5)
    assert not log.due(0, now=10.05)  # rate limit
    assert log.due(0, now=10.2)
    assert log.due(1, now=10.2)  # a new position is always worth a commit


def test_a_fresh_group_commits_its_map_even_before_the_watermark_moves() -> None:
    log = CompletionLog()
    log.assigned(-1001, None)  # OFFSET_INVALID: never committed
    assert log.work.reason == "no committed offset"
    log.complete(1)
    assert log.due(0, now=1.0)
    new = restart(commit(log, 0, now=1.0))
    assert new.skip_event(1) and not new.skip_event(0)


def test_garbage_metadata_on_assignment_skips_nothing() -> None:
    log = CompletionLog()
    work = log.assigned(50, "bkb1.AAAA")
    assert work.reason is not None
    assert not any(log.skip_event(o) for o in range(50, 60))
    assert log.size == 0


def test_back_pressure_when_the_map_does_not_fit() -> None:
    budget = 120
    log = CompletionLog(budget=budget)
    log.assigned(0, "")
    holes = random.Random(4).sample(range(1, 2000), 600)
    done = sorted(set(range(1, 2000)) - set(holes))
    for o in done:
        log.complete(o)
    text = log.metadata(0)
    assert 0 < len(text) <= budget
    assert log.limit is not None
    assert log.accepts(log.limit - 1) and not log.accepts(log.limit)
    # nothing was dropped: everything below the limit is in the map, the rest stays in the log
    new = restart((0, text))
    assert [o for o in done if new.skip_event(o)] == [o for o in done if o < log.limit]
    assert log.size == len(done)
    # the watermark moves past the holes: the map shrinks, back-pressure ends
    log.metadata(2000)
    assert log.limit is None and log.accepts(10**6)


def test_refused_as_too_large_lowers_the_budget_then_switches_off() -> None:
    log = CompletionLog(budget=4096)
    log.assigned(0, "")
    for o in random.Random(5).sample(range(1, 20_000), 3000):
        log.complete(o)
    text = log.metadata(0)
    assert len(text) > 1000
    log.sent(0, text, now=1)
    log.refused(text, too_large=True)  # a broker with offset.metadata.max.bytes < len(text)
    assert log.budget == len(text) // 2
    smaller = log.metadata(0)
    assert len(smaller) <= log.budget and log.limit is not None
    assert log.due(0, now=2)  # the refused commit is retried with the smaller map
    while log.enabled:
        log.refused(log.metadata(0) or "x" * MIN_BUDGET, too_large=True)
    assert log.metadata(0) == "" and log.accepts(10**9)  # watermark-only, never stuck


def test_a_failed_commit_is_retried() -> None:
    log = CompletionLog()
    log.assigned(0, "")
    log.complete(3)
    text = log.metadata(0)
    log.sent(0, text, now=1)
    assert not log.due(0, now=2)
    log.refused(text, too_large=False)  # e.g. coordinator moved
    assert log.due(0, now=2)
    assert log.committed == (0, "")


def test_assign_all_builds_one_log_per_partition() -> None:
    a = CompletionLog()
    a.assigned(5, "")
    a.complete(7)
    logs: dict[int, CompletionLog] = {}
    works = assign_all(logs, [(0, 5, a.metadata(5)), (1, -1001, None)])
    assert works[0].is_done(7) and not works[1].is_done(7)
    assert set(logs) == {0, 1}


def test_too_large_lowers_the_budget_of_the_longest_map_only() -> None:
    logs = {p: CompletionLog(budget=4096) for p in (0, 1, 2)}
    for p, log in logs.items():
        log.assigned(0, "")
        for o in random.Random(p).sample(range(1, 30_000), 3000 if p == 1 else 5):
            log.complete(o)
    sent = {p: log.metadata(0) for p, log in logs.items()}
    for p, log in logs.items():
        log.sent(0, sent[p], now=1)
    assert refused_too_large(logs, sent) == [1]
    assert logs[1].budget == len(sent[1]) // 2
    assert logs[0].budget == logs[2].budget == 4096
    assert all(log.due(0, now=2) for log in logs.values())  # all sent again


def test_events_matched_by_no_rule_cost_no_memory_per_event() -> None:
    log = CompletionLog()
    log.assigned(0, "")
    for o in range(1, 200_001):  # the event at 0 hangs; everything after matches no rule
        log.complete(o)
    assert log.size == 200_000 and log.runs == 1
    text = log.metadata(0)
    assert len(text) < 40
    new = restart((0, text))
    assert not new.skip_event(0) and new.skip_event(200_000) and new.runs == 1
