"""scripts/check-structure (run by ``make lint``) fails on what issue 18 rules out."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check-structure"


def _load() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("check_structure", str(SCRIPT))
    spec = importlib.util.spec_from_loader("check_structure", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def _package(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_long_module_long_function_and_folder_cycle_fail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(61))
    _package(
        tmp_path,
        {
            "shapepkg/__init__.py": "",
            "shapepkg/a/__init__.py": "",
            "shapepkg/a/one.py": "from shapepkg.b import two\n",
            "shapepkg/b/__init__.py": "",
            "shapepkg/b/two.py": "from shapepkg.a import three\n",
            "shapepkg/a/three.py": "def long() -> None:\n" + body + "\n" * 340,
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    check = _load()
    assert check.main("shapepkg") == 1
    err = capsys.readouterr().err
    assert "import cycle between shapepkg.a and shapepkg.b" in err
    assert "shapepkg/a/three.py: 402 lines (limit 400)" in err
    assert "shapepkg/a/three.py:1 long() 62 lines (limit 60)" in err
    for name in [m for m in sys.modules if m.startswith("shapepkg")]:
        monkeypatch.delitem(sys.modules, name)


def test_a_marked_table_is_listed_not_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(61))
    _package(tmp_path, {"tablepkg/__init__.py": "# size: table\ndef table() -> None:\n" + body})
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert _load().main("tablepkg") == 0
    assert "table, exempt: tablepkg/__init__.py:2 table() 62 lines" in capsys.readouterr().out


def test_bridge_itself_passes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(SCRIPT.parents[1])
    assert _load().main("bridge") == 0, capsys.readouterr().err
