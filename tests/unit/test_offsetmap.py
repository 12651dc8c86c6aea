"""The completed-work map codec (issue 11): round trips, size choice, budget, garbage."""

from __future__ import annotations

import base64
import random
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge import offsetmap as om

PROPS = settings(max_examples=300, deadline=None, database=None)
RULES = ["shipped", "shipped-email", "vip.push", "règle-é"]

offsets_rel = st.sets(st.integers(0, 5000), max_size=400)
partials_rel = st.dictionaries(
    st.integers(0, 5000),
    st.frozensets(st.sampled_from(RULES), min_size=1),
    max_size=40,
)
bases = st.integers(0, 2**62)


def typical(n: int, open_share: float, seed: int = 1) -> set[int]:
    rnd = random.Random(seed)
    return {i for i in range(1, n + 1) if rnd.random() >= open_share}


def read(
    base: int, done: set[int], partial: dict[int, frozenset[str]] | None = None
) -> om.CompletedWork:
    text = om.encode(base, done, partial or {}, budget=10**9)
    assert text is not None
    work = om.decode(base, text)
    assert work.reason is None or text == ""
    return work


@PROPS
@given(bases, offsets_rel, partials_rel)
def test_round_trip(base: int, rel: set[int], prel: dict[int, frozenset[str]]) -> None:
    done = {base + r for r in rel}
    partial = {base + r: rules for r, rules in prel.items()}
    work = read(base, done, partial)
    assert set(work.done_offsets()) == done
    assert work.done_count == len(done)
    for o, rules in partial.items():
        if o in done:
            assert work.is_done(o)
        else:
            assert work.done_rules(o) == rules
            assert not work.is_done(o)
            assert all(work.is_final(o, r) for r in rules)
            assert not any(work.is_final(o, r) for r in set(RULES) - rules)
    for probe in (base - 1, base + 5001, base + 10**6):
        assert not work.is_done(probe)
        assert work.done_rules(probe) == frozenset()


@PROPS
@given(bases, offsets_rel, partials_rel)
def test_encode_picks_the_shortest_and_respects_the_budget(
    base: int, rel: set[int], prel: dict[int, frozenset[str]]
) -> None:
    done = {base + r for r in rel}
    partial = {base + r: rules for r, rules in prel.items()}
    text = om.encode(base, done, partial, budget=10**9)
    assert text is not None
    assert text.isascii()
    if text:
        assert len(text) == min(om.sizes(base, done, partial, budget=10**9).values())
    budget = max(len(text) - 1, 0)
    assert om.encode(base, done, partial, budget=budget) is None or text == ""
    assert om.encode(base, done, partial, budget=len(text)) == text


@PROPS
@given(bases, offsets_rel, partials_rel, st.integers(16, 600), st.none() | st.integers(-10, 6000))
def test_fit_keeps_the_longest_prefix_that_fits(
    base: int, rel: set[int], prel: dict[int, frozenset[str]], budget: int, hint: int | None
) -> None:
    done = {base + r for r in rel}
    partial = {base + r: rules for r, rules in prel.items() if base + r not in done}
    f = om.fit(base, done, partial, budget, hint=None if hint is None else base + hint)
    assert len(f.text) <= budget
    work = om.decode(base, f.text)
    entries = sorted(done | set(partial))
    if f.limit is None:
        assert set(work.done_offsets()) == done and f.left_out == 0
        return
    # everything below the limit is in the map, nothing at or above it
    assert set(work.done_offsets()) == {o for o in done if o < f.limit}
    assert {o for o in partial if work.done_rules(o)} == {o for o in partial if o < f.limit}
    assert f.kept + f.left_out == len(entries)
    # one more entry would not have fitted
    lim = entries[f.kept + 1] if f.kept + 1 < len(entries) else None
    more_done = {o for o in done if lim is None or o < lim}
    more_partial = {o: r for o, r in partial.items() if lim is None or o < lim}
    assert om.encode(base, more_done, more_partial, budget) is None


@PROPS
@given(st.text(max_size=300))
def test_garbage_text_never_crashes(text: str) -> None:
    work = om.decode(42, text)
    assert work.reason is not None and work.empty
    assert isinstance(work.is_done(43), bool)


@PROPS
@given(st.binary(max_size=300))
def test_garbage_payload_with_our_prefix_is_nothing_known(raw: bytes) -> None:
    work = om.decode(7, om.PREFIX + base64.b64encode(raw).decode())
    assert work.reason is not None
    assert not work.is_done(8) and work.empty


@PROPS
@given(bases, offsets_rel, st.data())
def test_any_flipped_byte_is_nothing_known(base: int, rel: set[int], data: st.DataObject) -> None:
    done = {base + r for r in rel} | {base + 1}
    text = om.encode(base, done, {}, budget=10**9)
    assert text
    raw = bytearray(base64.b64decode(text[len(om.PREFIX) :]))
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] ^= data.draw(st.integers(1, 255))
    work = om.decode(base, om.PREFIX + base64.b64encode(bytes(raw)).decode())
    assert work.reason is not None and work.empty


def test_payload_with_a_valid_checksum_but_bad_body_is_nothing_known() -> None:
    # a well-formed frame whose body lies: a rule index beyond the name table
    # base 10, no runs, a table of one name "a", one partial entry (gap 0) with mask 0b10
    body = bytes([10, 0, 1, 1]) + b"a" + bytes([1, 0, 0b10])
    payload = bytes([om.RUNS]) + body
    payload += zlib.crc32(payload).to_bytes(4, "big")
    work = om.decode(10, om.PREFIX + base64.b64encode(payload).decode())
    assert work.reason is not None and work.reason.startswith("corrupt map")
    assert work.empty


def test_reasons_say_why_nothing_is_known() -> None:
    text = om.encode(100, {101, 103}, budget=4096)
    assert text
    assert om.decode(100, "").reason == "no metadata"
    assert om.decode(100, None).reason == "no metadata"
    assert om.decode(100, "kafka-streams-metadata").reason == "not a completed-work map"
    assert om.decode(100, "bkb2." + text[5:]).reason == "unsupported map version '2'"
    assert om.decode(100, text[:-3] + "!!!").reason == "corrupt map: not base64"
    moved = om.decode(99, text)  # offsets moved back by a tool; the map is for 100
    assert moved.reason == "map written for offset 100, committed offset is 99"
    assert not moved.is_done(101)
    later = om.decode(102, text)  # a newer commit that reused the map: its facts still hold
    assert later.reason is None and later.base == 102
    assert later.is_done(103) and not later.is_done(101) and not later.is_done(102)
    ok = om.decode(100, text)
    assert ok.reason is None and ok.is_done(101) and not ok.is_done(102) and ok.is_done(103)


def test_empty_map_is_a_plain_commit() -> None:
    assert om.encode(5, [], {}) == ""
    assert om.encode(5, [1, 2, 4], {3: frozenset({"a"})}) == ""  # all below the commit
    assert om.encode(5, [], {6: frozenset()}) == ""  # no final action: nothing to say


def test_done_wins_over_partial_and_rules_are_by_name() -> None:
    work = read(0, {3}, {3: frozenset({"a"}), 4: frozenset({"b", "c"})})
    assert work.is_done(3) and work.done_rules(3) == frozenset()
    assert work.done_rules(4) == {"b", "c"}
    assert work.is_final(4, "c") and not work.is_final(4, "renamed-c")


@pytest.mark.parametrize(
    ("done", "expected"),
    [
        (typical(1000, 0.02), {"runs"}),  # few holes: short runs
        (set(range(1, 4001)), {"runs"}),  # one run
        ({1, 10_000, 90_000}, {"deltas"}),  # sparse
        # a regular pattern: every plain form is long, a compressed one wins
        (set(range(2, 3000, 7)), {"bitset+zlib", "runs+zlib", "deltas+zlib"}),
    ],
)
def test_the_encoding_suits_the_shape(done: set[int], expected: set[str]) -> None:
    sizes = om.sizes(0, done)
    best = min(sizes, key=lambda k: sizes[k])
    assert best in expected, sizes
    assert len(om.encode(0, done, budget=10**9) or "") == sizes[best]
    assert read(0, done).encoding == best.removesuffix("+zlib")


def test_typical_maps_fit_the_default_budget() -> None:
    rules = {o: frozenset({"shipped"}) for o in range(5, 1000, 97)}
    for done in (typical(1000, 0.02), typical(10_000, 0.02, seed=2), set(range(1, 10_000, 50))):
        text = om.encode(0, done, rules, budget=om.DEFAULT_BUDGET)
        assert text is not None and len(text) <= 4096, om.sizes(0, done, rules)


def test_random_holes_beyond_the_budget_do_not_fit_and_fit_says_where() -> None:
    done = set(random.Random(3).sample(range(1, 200_000), 40_000))
    assert om.encode(0, done, budget=4096) is None
    f = om.fit(0, done, budget=4096)
    assert f.limit is not None and 0 < f.kept < len(done) and len(f.text) <= 4096
    work = om.decode(0, f.text)
    assert all(work.is_done(o) for o in done if o < f.limit)
    assert not any(work.is_done(o) for o in done if o >= f.limit)


def test_the_benchmark_runs_and_every_map_reads_back() -> None:
    from bench.offsetmap import run

    rows = {r["case"]: r for r in run(repeat=1)}
    assert set(rows) >= {"1k-2%-open", "10k-2%-open", "10k-sparse", "over-budget-hint"}
    assert all(r["bytes"] <= om.DEFAULT_BUDGET and r["decode_us"] > 0 for r in rows.values())
    assert rows["over-budget-hint"]["kept"] < rows["over-budget-hint"]["done"]


def test_encode_and_fit_take_intervals_without_expanding_them() -> None:
    iv = om.Intervals([10, 2_000_000], [1_000_010, 2_000_001])  # a million in one run
    text = om.encode(5, iv)
    assert text is not None and len(text) < 40
    work = om.decode(5, text)
    assert work.is_done(10) and work.is_done(1_000_009) and not work.is_done(1_000_010)
    assert work.is_done(2_000_000) and work.done_count == 1_000_001
    assert om.fit(5, iv, budget=4096).limit is None
    assert om.encode(20, iv) == om.encode(20, set(range(20, 1_000_010)) | {2_000_000})


def test_rule_names_with_any_characters_round_trip() -> None:
    odd = frozenset({"\udcff-lone-surrogate", "emoji-🚀", "tab\there"})
    assert read(0, set(), {3: odd}).done_rules(3) == odd
