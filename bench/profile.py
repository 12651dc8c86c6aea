"""Sampling profile of a running bridge with py-spy, folded into pipeline stages.

``py-spy record --pid P --duration S --format raw`` writes folded stacks (Python frames only).
Each sample is attributed to the innermost frame that belongs to a known stage.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

STAGES: list[tuple[str, tuple[str, ...]]] = [
    ("metrics", ("prometheus_client",)),
    ("decode", ("bridge/decode/", "fastavro")),
    ("rules", ("bridge/rules/", "bridge/actions/")),
    ("batch", ("bridge/batch.py",)),
    ("track", ("bridge/offsets.py",)),
    ("deliver", ("bridge/deliver/", "httpx", "httpcore", "h11", "anyio", "asyncio", "ssl.py")),
    ("dlq", ("bridge/kafka/deadletter.py",)),
    ("logging", ("logging/", "bridge/ops/logs.py")),
]


def py_spy() -> str | None:
    exe = Path(sys.executable).parent / "py-spy"
    return str(exe) if exe.exists() else shutil.which("py-spy")


def record(pid: int, seconds: float, out: Path, rate: int = 200) -> subprocess.Popen[bytes]:
    exe = py_spy()
    if exe is None:
        raise RuntimeError("py-spy is not installed (pip install py-spy)")
    cmd = [exe, "record", "--pid", str(pid), "--duration", str(int(max(seconds, 1)))]
    cmd += ["--rate", str(rate), "--format", "raw", "--output", str(out), "--nonblocking"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def classify(stack: str) -> str:
    frames = stack.split(";")
    for frame in reversed(frames):
        for stage, marks in STAGES:
            if any(m in frame for m in marks):
                return stage
        if "bridge/processing/" in frame or "bridge/pipeline.py" in frame:
            # consume() is C: its innermost Python frame is the loop's poll step
            return "kafka" if frame.startswith(("run ", "poll_once ")) else "pipeline"
    return "other"


def fold(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        st = classify(stack)
        out[st] = out.get(st, 0) + int(n)
    return out


def top_functions(path: Path, limit: int = 12) -> list[tuple[str, int]]:
    """Self samples per leaf frame."""
    out: dict[str, int] = {}
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        leaf = stack.split(";")[-1]
        out[leaf] = out.get(leaf, 0) + int(n)
    return sorted(out.items(), key=lambda kv: -kv[1])[:limit]
