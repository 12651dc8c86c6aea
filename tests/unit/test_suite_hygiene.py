"""The test suite's own rules (tests/README.md), checked on its source with ``ast``:

* no ``assert`` inside a ``finally:`` block: an assertion there replaces the exception that
  was already on its way out, and the report shows the clean-up instead of the failure;
* every ``sleep`` in a test (``time.sleep``, ``asyncio.sleep``) carries a comment on its line
  or the line above saying why it is the behaviour under test; a wait for a condition is
  ``tests.support.wait.wait_for``, which names the condition when it times out.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
# the one polling loop every wait goes through
SLEEP_ALLOWED = {TESTS / "support" / "wait.py"}


def _sources() -> list[tuple[Path, str, ast.Module]]:
    out = []
    for path in sorted(TESTS.rglob("*.py")):
        text = path.read_text()
        out.append((path, text, ast.parse(text, str(path))))
    return out


def _assert_in_finally(tree: ast.Module) -> list[int]:
    return [
        sub.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Try | ast.TryStar)
        for stmt in node.finalbody
        for sub in ast.walk(stmt)
        if isinstance(sub, ast.Assert)
    ]


def _sleeps(tree: ast.Module) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "sleep"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id in ("time", "asyncio")
    ]


def _commented(lines: list[str], lineno: int) -> bool:
    here, above = lines[lineno - 1], lines[lineno - 2] if lineno > 1 else ""
    return "#" in here or above.strip().startswith("#")


def test_no_assert_inside_finally() -> None:
    found = [
        f"{path.relative_to(TESTS.parent)}:{line}"
        for path, _, tree in _sources()
        for line in _assert_in_finally(tree)
    ]
    assert not found, f"assert inside finally (keep the value, assert after it): {found}"


def test_every_sleep_says_why_it_is_not_a_wait() -> None:
    found = [
        f"{path.relative_to(TESTS.parent)}:{line}"
        for path, text, tree in _sources()
        if path not in SLEEP_ALLOWED
        for line in _sleeps(tree)
        if not _commented(text.splitlines(), line)
    ]
    assert not found, f"sleep without a reason (wait with wait_for instead): {found}"


def test_the_checks_find_what_they_look_for() -> None:
    source = (
        "try:\n    pass\nfinally:\n    assert x\n"
        "import time\ntime.sleep(1)\ntime.sleep(2)  # the behaviour under test\n"
    )
    tree = ast.parse(source)
    assert _assert_in_finally(tree) == [4]
    assert _sleeps(tree) == [6, 7]
    lines = source.splitlines()
    assert not _commented(lines, 6)
    assert _commented(lines, 7)
