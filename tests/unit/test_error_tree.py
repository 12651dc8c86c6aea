"""The exception tree is true: every class in bridge.errors is raised somewhere in bridge/,
and every class with subclasses (a grouping) is caught somewhere by that name."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import bridge.errors

BRIDGE = Path(bridge.errors.__file__).parent
CLASSES = {
    name: cls
    for name, cls in vars(bridge.errors).items()
    if inspect.isclass(cls) and issubclass(cls, BaseException) and cls.__module__ == "bridge.errors"
}


GROUPINGS = {
    n for n, c in CLASSES.items() if any(o is not c and issubclass(o, c) for o in CLASSES.values())
}


def _source() -> str:
    return "\n".join(
        p.read_text(encoding="utf-8") for p in BRIDGE.rglob("*.py") if p.name != "errors.py"
    )


def test_every_class_is_raised() -> None:
    text = _source()
    raised = {n for n in CLASSES if re.search(rf"\b(raise|return) {n}\(", text)}
    # the root and the groupings are raised through their leaves
    assert set(CLASSES) - GROUPINGS - raised == set()


def test_every_grouping_is_caught() -> None:
    text = _source()
    assert {"BridgeError", "DecodeError"} <= GROUPINGS
    caught = {n for n in GROUPINGS if re.search(rf"except \(?[\w, ]*\b{n}\b", text)}
    assert GROUPINGS - caught == set()
