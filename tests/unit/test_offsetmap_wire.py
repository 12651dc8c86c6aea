"""The completed-work map's wire format, pinned: texts written by version 1 of the codec.

Every literal below was produced by ``bridge/offsetmap.py`` before it was split into a package
(commit e4646d2). Maps already committed to Kafka by a running bridge must decode the same, and
today's encoder must write exactly these bytes, so a refactor that changes the format fails here.
"""

from __future__ import annotations

import zlib

import pytest

from bridge import offsetmap as om

B = 2**40
# name: (base, done, partial, the text encode() writes with an unlimited budget)
WRITTEN: dict[str, tuple[int, set[int], dict[int, set[str]], str]] = {
    "runs": (
        1000,
        set(range(1001, 1400)) | set(range(1500, 1600)),
        {1450: {"vip.push"}},
        "bkb1.AugHBAGPA2RkAQh2aXAucHVzaAHCAwEuzD0o",
    ),
    "deltas+zlib": (
        7,
        {7 + i for i in range(600) if (i * i + 3 * i) % 7 < 3},
        {},
        "bkb1.g3jaY1/DyMDMNGQgAwMAD6YCYZSJnck=",
    ),
    "deltas": (
        B,
        {B + 3, B + 900, B + 100000},
        {B + 5: {"shipped", "règle-é"}},
        "bkb1.A4CAgICAIAMDgAebhgYCCXLDqGdsZS3DqQdzaGlwcGVkAQUD45IyXg==",
    ),
    "bitset+zlib": (
        0,
        {i for i in range(4000) if i % 7 in (1, 2, 5)},
        {},
        "bkb1.gXjaY/jCrDb5ZIrRTJ9RagRRDAwAg6jWpa711Os=",
    ),
    "runs+zlib": (
        50,
        {50 + i for i in range(20000) if i % 10 < 3},
        {},
        "bkb1.gnja7cJBDQAwCASwS3hMBh5QjNTJ4NO0s516AAAAwLHkA609Twvc+Ugv",
    ),
    "partial only": (
        12,
        set(),
        {13: {"a"}, 20: {"a", "b"}, 4000: {"shipped-email"}},
        "bkb1.AgwAAwFhAWINc2hpcHBlZC1lbWFpbAMBAQYDix8EECOzzQ==",
    ),
}

# One map in each of the six encodings (the candidates the encoder compares).
EVERY_BASE = 500
EVERY_DONE = {501, 502, 503, 510, 530, 531}
EVERY_PARTIAL = {505: {"shipped"}, 520: {"shipped", "vip.push"}}
EVERY_ENCODING = {
    "runs": "bkb1.AvQDBgEDBgETAgIHc2hpcHBlZAh2aXAucHVzaAIFAQ4DZQ1PyA==",
    "runs+zlib": "bkb1.gnja+8LMxghEwkxM7MUZmQUFqSkcZZkFegWlxRlMrIx8zAB36gdyjKwapA==",
    "bitset": "bkb1.AfQDBA4EAMACB3NoaXBwZWQIdmlwLnB1c2gCBQEOAx2DIbQ=",
    "bitset+zlib": "bkb1.gXja+8LMwsfCcICJvTgjs6AgNYWjLLNAr6C0OIOJlZGPGQCGYAgiUqKWAA==",
    "deltas": "bkb1.A/QDBgEAAAYTAAIHc2hpcHBlZAh2aXAucHVzaAIFAQ4D7IAy8g==",
    "deltas+zlib": "bkb1.g3ja+8LMxsjAwCbMwMRenJFZUJCawlGWWaBXUFqcwcTKyMcMAHdGB2yOf1Gt",
}

# fit() of a map of pseudo-random holes that does not fit 120 bytes.
FIT_DONE = {i for i in range(1, 3000) if zlib.crc32(i.to_bytes(4, "big")) % 3}
FIT_PARTIAL = {35: {"x"}, 2000: {"y"}}
FIT_TEXT = (
    "bkb1.AQBHqva+73dhGuLC2fwH4vbe+2fyJx6b6/9Zd/b08+vH5r333H1/awu+7uN//lVv59jt9O/p5/7peb/N39ucc"
    "+7X/hz2H/5f5fUBAXgBIwETInLx"
)


def assert_reads_as(work: om.CompletedWork, done: set[int], partial: dict[int, set[str]]) -> None:
    assert work.reason is None
    assert set(work.done_offsets()) == done
    assert {o: set(work.done_rules(o)) for o in partial} == partial
    assert dict(work.partial) == {o: frozenset(r) for o, r in partial.items()}


@pytest.mark.parametrize("name", WRITTEN)
def test_encode_writes_the_version_1_bytes(name: str) -> None:
    base, done, partial, text = WRITTEN[name]
    assert om.encode(base, done, partial, budget=10**9) == text
    assert om.encode(base, om.Intervals.of(done), partial, budget=10**9) == text
    assert om.fit(base, done, partial, budget=10**9) == om.Fit(
        text, None, len(done) + len(partial), 0
    )


@pytest.mark.parametrize("name", WRITTEN)
def test_version_1_texts_decode_to_their_maps(name: str) -> None:
    base, done, partial, text = WRITTEN[name]
    work = om.decode(base, text)
    assert_reads_as(work, done, partial)
    assert work.encoding == name.split("+")[0].replace("partial only", "runs")


@pytest.mark.parametrize("encoding", EVERY_ENCODING)
def test_every_encoding_of_version_1_decodes(encoding: str) -> None:
    work = om.decode(EVERY_BASE, EVERY_ENCODING[encoding])
    assert_reads_as(work, EVERY_DONE, EVERY_PARTIAL)
    assert work.encoding == encoding.split("+")[0]


def test_a_version_1_text_read_for_a_later_commit_keeps_what_is_above_it() -> None:
    work = om.decode(510, EVERY_ENCODING["bitset"])
    assert_reads_as(work, {510, 530, 531}, {520: {"shipped", "vip.push"}})
    assert work.base == 510


def test_sizes_are_those_of_the_version_1_texts() -> None:
    sizes = om.sizes(EVERY_BASE, EVERY_DONE, EVERY_PARTIAL)
    assert sizes == {name: len(text) for name, text in EVERY_ENCODING.items()}
    assert list(sizes) == list(EVERY_ENCODING)  # the order ties are broken in
    assert om.encode(EVERY_BASE, EVERY_DONE, EVERY_PARTIAL) == EVERY_ENCODING["bitset"]


@pytest.mark.parametrize("hint", [None, 100, 600, 700, 2900])
def test_fit_keeps_the_same_prefix_and_writes_the_same_text(hint: int | None) -> None:
    fitted = om.fit(0, FIT_DONE, FIT_PARTIAL, budget=120, hint=hint)
    assert fitted == om.Fit(FIT_TEXT, 568, 387, 1617)
    assert_reads_as(om.decode(0, fitted.text), {o for o in FIT_DONE if o < 568}, {35: {"x"}})
