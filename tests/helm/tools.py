"""Real operations tools for the chart tests, built from the Go module proxy and cached.

``ensure_go_tool`` returns the path of ``promtool`` / ``kubeconform`` from PATH (when it is
the pinned version, or any version if unknowable), else from the cache
``${BRAZE_BRIDGE_CACHE:-~/.cache/braze-bridge}/bin`` (where ``scripts/ensure-helm`` keeps
helm), else builds it there with ``go install <module>@<version>`` (promtool: several minutes
the first time). A tool that cannot be had fails the test (it never skips: CI must run it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest

TOOLS = {
    # name: (module path, version, build tags); versions from the Go module proxy.
    # promtool: remove_all_sd drops Prometheus' service-discovery plugins (cloud SDKs), which
    # check/test rules and check metrics never use; it builds in a fraction of the time.
    "promtool": ("github.com/prometheus/prometheus/cmd/promtool", "v0.316.0", "remove_all_sd"),
    "kubeconform": ("github.com/yannh/kubeconform/cmd/kubeconform", "v0.7.0", ""),
}


def cache_dir() -> Path:
    return Path(os.environ.get("BRAZE_BRIDGE_CACHE", Path.home() / ".cache" / "braze-bridge"))


def ensure_go_tool(name: str) -> str:
    path, error = _ensure(name)
    if error:
        pytest.fail(error)
    return path


@cache
def _ensure(name: str) -> tuple[str, str]:
    module, version, tags = TOOLS[name]
    bin_dir = cache_dir() / "bin"
    stamp = bin_dir / f".{name}.version"
    cached = bin_dir / name
    if cached.is_file() and os.access(cached, os.X_OK) and stamp.is_file():
        if stamp.read_text().strip() == version:
            return str(cached), ""
    go = shutil.which("go") or (
        "/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None
    )
    if go is None:
        return "", f"{name} is not installed and 'go' is missing: cannot build {module}@{version}"
    bin_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "GOBIN": str(bin_dir),
        "GOMODCACHE": str(cache_dir() / "gomodcache"),
        "GOCACHE": str(cache_dir() / "gocache"),
        "GOFLAGS": (os.environ.get("GOFLAGS", "") + " -modcacherw").strip(),
        "CGO_ENABLED": "0",
    }
    try:
        proc = subprocess.run(
            [go, "install", "-trimpath", "-tags", tags, "-ldflags", "-s -w", f"{module}@{version}"],
            capture_output=True,
            text=True,
            env=env,
            timeout=2400,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return "", f"go install {module}@{version} could not run: {exc!r}"
    if proc.returncode != 0 or not cached.is_file():
        return "", f"go install {module}@{version} failed:\n{proc.stderr[-4000:]}"
    stamp.write_text(version + "\n")
    return str(cached), ""
