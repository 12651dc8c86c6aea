"""Reproducible builds and licensing: one resolved dependency set (constraints.txt) used by
the image and by `make install` (so CI), pins that satisfy pyproject's ranges, a LICENSE
file and an SPDX licence expression (issue 13, audit rows 9 and 10)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        assert m, f"constraints.txt: not an exact pin: {line!r}"
        pins[re.sub(r"[-_.]+", "-", m.group(1)).lower()] = m.group(2)
    return pins


def test_every_dependency_is_pinned_within_its_declared_range() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = _pins()
    declared = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    for spec in declared:
        req = Requirement(spec)
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        assert name in pins, f"{req.name} is not pinned in constraints.txt"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {req.name}=={pins[name]}, outside {req.specifier}"
        )


def test_the_image_and_make_install_use_the_constraints() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "COPY pyproject.toml constraints.txt ./" in dockerfile
    assert "pip install --no-cache-dir -c constraints.txt -r /tmp/requirements.txt" in dockerfile
    assert "!constraints.txt" in (REPO / ".dockerignore").read_text().splitlines()
    makefile = (REPO / "Makefile").read_text()
    assert "pip install -q -c constraints.txt -e '.[dev,browser]'" in makefile


def test_licence_file_and_spdx_metadata() -> None:
    text = (REPO / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    doc = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert doc["project"]["license"] == "Apache-2.0"
    assert doc["project"]["license-files"] == ["LICENSE"]
    backend = [Requirement(r) for r in doc["build-system"]["requires"]]
    setuptools = next(r for r in backend if r.name == "setuptools")
    assert not setuptools.specifier.contains("76.1")  # the SPDX string needs setuptools >= 77
    assert setuptools.specifier.contains("80.0")
