"""The offset set behind the completion log (``bridge/offsetmap/intervals.py``)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.offsetmap import Intervals

PROPS = settings(max_examples=300, deadline=None, database=None)


@PROPS
@given(st.lists(st.tuples(st.sampled_from(["add", "cut"]), st.integers(0, 300)), max_size=200))
def test_intervals_behave_as_a_set(ops: list[tuple[str, int]]) -> None:
    iv, model = Intervals(), set()
    for op, o in ops:
        if op == "add":
            assert iv.add(o) == (o not in model)
            model.add(o)
        else:
            iv.discard_below(o)
            model = {x for x in model if x >= o}
        assert list(iv) == sorted(model) and len(iv) == len(model)
        assert all(s < e for s, e in zip(iv.starts, iv.ends, strict=True))
        assert all(e < s for e, s in zip(iv.ends, iv.starts[1:], strict=False))  # merged
    assert all((x in iv) == (x in model) for x in range(-1, 302))
