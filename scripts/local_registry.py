#!/usr/bin/env python3
"""Local Apicurio Registry (Confluent-compatible schema registry) for tests and demos.

Stdlib only: runs with a plain ``python3``. Apicurio Registry publishes its ready-to-run
Quarkus distribution on Maven Central as ``io.apicurio:apicurio-registry-app:<version>``
with classifier ``all``, type ``tar.gz``. It is fetched once with Maven into
``${BRAZE_BRIDGE_CACHE:-~/.cache/braze-bridge}/apicurio/<version>``, then started as a
detached ``java`` process with in-memory storage on a free 127.0.0.1 port; its state
(pid, URL, log) lives in a state dir so ``stop`` ends exactly that process.

CLI::

    scripts/local-registry start [--state-dir DIR] [--port N] [--version V] [--timeout S]
    scripts/local-registry stop [--state-dir DIR]
    scripts/local-registry status [--state-dir DIR]
    scripts/local-registry fetch [--version V]

``start`` (idempotent) prints only the base URL of the Confluent-compatible API,
``http://127.0.0.1:PORT/apis/ccompat/v7``, once ``GET /subjects`` answers; progress goes
to stderr. ``status`` prints the URL and exits 0 if running, else exits 1. Exit codes:
0 ok, 1 failure, 3 missing tool (Java, Maven).

Versions: 3.x (default 3.3.3) needs Java 21+ (its classes are Java 21 bytecode); 2.6.x
(2.6.13.Final) runs on Java 17. The default is 3.3.3 when a Java >= 21 is found
(``$BRAZE_BRIDGE_JAVA``, ``$JAVA_HOME``, ``java`` on PATH, ``/usr/lib/jvm/*``),
2.6.13.Final otherwise; ``--version`` or ``$BRAZE_BRIDGE_APICURIO_VERSION`` choose.

Python API (import this file by path)::

    fetch(version) -> Path
    start(state_dir, version=None, port=None, timeout=180.0) -> str
    stop(state_dir) -> None
    is_running(state_dir) -> str | None
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

GROUP = "io.apicurio"
ARTIFACT = "apicurio-registry-app"
NEW_DEFAULT = "3.3.3"
OLD_DEFAULT = "2.6.13.Final"
MAVEN_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
CCOMPAT = "/apis/ccompat/v7"
HOST = "127.0.0.1"
DEFAULT_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 20.0

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATE_DIR = REPO_ROOT / ".local" / "registry"

EXIT_FAILURE = 1
EXIT_MISSING_TOOL = 3

_STATE_FILE = "registry.json"
_LOG_FILE = "registry.log"


class LocalRegistryError(Exception):
    """The local registry could not be fetched, started or stopped."""

    exit_code = EXIT_FAILURE


class MissingToolError(LocalRegistryError):
    """A required tool (java, mvn) is missing or too old."""

    exit_code = EXIT_MISSING_TOOL


def _info(msg: str) -> None:
    print(f"local-registry: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------
def _java_major(java: str) -> int | None:
    try:
        out = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major


def find_javas() -> list[tuple[int, str]]:
    """(major, path) of every Java found: ``$BRAZE_BRIDGE_JAVA`` first, then newest first."""
    explicit = os.environ.get("BRAZE_BRIDGE_JAVA")
    candidates: list[str] = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(str(Path(os.environ["JAVA_HOME"]) / "bin" / "java"))
    on_path = shutil.which("java")
    if on_path:
        candidates.append(on_path)
    candidates.extend(sorted(glob.glob("/usr/lib/jvm/*/bin/java")))
    seen: set[str] = set()
    found: list[tuple[int, str]] = []
    for c in ([explicit] if explicit else []) + candidates:
        real = os.path.realpath(c)
        if real in seen or not os.access(real, os.X_OK):
            continue
        seen.add(real)
        major = _java_major(real)
        if major is not None:
            found.append((major, c))
    if explicit and found and found[0][1] == explicit:
        return found[:1] + sorted(found[1:], key=lambda t: -t[0])
    return sorted(found, key=lambda t: -t[0])


def required_java(version: str) -> int:
    return 17 if version.startswith(("1.", "2.")) else 21


def pick_java(version: str) -> str:
    need = required_java(version)
    javas = find_javas()
    for major, path in javas:
        if major >= need:
            return path
    have = ", ".join(f"{p} ({m})" for m, p in javas) or "none"
    raise MissingToolError(
        f"Apicurio Registry {version} needs Java {need}+; found: {have}. "
        f"Set BRAZE_BRIDGE_JAVA, or use --version {OLD_DEFAULT} (Java 17)."
    )


def default_version() -> str:
    env = os.environ.get("BRAZE_BRIDGE_APICURIO_VERSION")
    if env:
        return env
    return NEW_DEFAULT if any(m >= 21 for m, _ in find_javas()) else OLD_DEFAULT


def _mvn_bin() -> str:
    mvn = os.environ.get("BRAZE_BRIDGE_MVN") or shutil.which("mvn")
    if not mvn:
        raise MissingToolError("Maven (mvn) is needed once to fetch Apicurio Registry")
    return mvn


# ---------------------------------------------------------------------------
# Distribution cache
# ---------------------------------------------------------------------------
def cache_root() -> Path:
    base = os.environ.get("BRAZE_BRIDGE_CACHE")
    root = Path(base) if base else Path.home() / ".cache" / "braze-bridge"
    return root / "apicurio"


def find_launcher(dist: Path) -> Path | None:
    fast_jar = dist / "quarkus-run.jar"  # 3.x: Quarkus fast-jar layout
    if fast_jar.is_file():
        return fast_jar
    runners = sorted(dist.glob("*-runner.jar"))  # 2.x: legacy runner jar + lib/
    return runners[0] if runners else None


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def fetch(version: str) -> Path:
    """The unpacked distribution of ``version``, fetched with Maven the first time."""
    dist = cache_root() / version
    if find_launcher(dist) is not None:
        return dist
    with _file_lock(cache_root() / f".{version}.lock"):
        if find_launcher(dist) is not None:  # another process finished it meanwhile
            return dist
        mvn = _mvn_bin()
        coords = f"{GROUP}:{ARTIFACT}:{version}:tar.gz:all"
        _info(f"fetching {coords} with Maven (about 150 MB, once) ...")
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix=".fetch-", dir=cache_root()) as tmp:
            repo = Path(tmp) / "m2"
            cmd = [
                mvn,
                "-q",
                "-B",
                "-Dstyle.color=never",
                f"-Dmaven.repo.local={repo}",
                f"{MAVEN_DEPENDENCY_PLUGIN}:get",
                f"-Dartifact={coords}",
                "-Dtransitive=false",
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            archive = (
                repo
                / GROUP.replace(".", "/")
                / ARTIFACT
                / version
                / f"{ARTIFACT}-{version}-all.tar.gz"
            )
            if proc.returncode != 0 or not archive.is_file():
                tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-30:])
                raise LocalRegistryError(
                    f"mvn failed to fetch {coords} (exit {proc.returncode}):\n{tail}"
                )
            unpacked = Path(tmp) / "dist"
            unpacked.mkdir()
            with tarfile.open(archive) as tar:
                tar.extractall(unpacked, filter="data")
            if find_launcher(unpacked) is None:
                raise LocalRegistryError(f"{coords} has neither quarkus-run.jar nor a runner jar")
            if dist.exists():  # a partial dir without a launcher
                shutil.rmtree(dist)
            os.rename(unpacked, dist)  # atomic: a half-unpacked dir is never used
        _info(f"unpacked into {dist} in {time.monotonic() - started:.1f}s")
    return dist


# ---------------------------------------------------------------------------
# Run
# ---------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def answers(url: str, timeout: float = 2.0) -> bool:
    """True if ``GET {url}/subjects`` answers 200."""
    try:
        with urllib.request.urlopen(url + "/subjects", timeout=timeout) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _read_state(state_dir: Path) -> dict[str, str | int] | None:
    try:
        data = json.loads((state_dir / _STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not {"pid", "url", "jar"} <= data.keys():
        return None
    return data


def _pid_is_ours(pid: int, jar: str) -> bool:
    """The pid is alive (not a zombie) and runs our launcher jar (not a recycled pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return jar in cmdline


def _running(state_dir: Path) -> tuple[int, str, str] | None:
    state = _read_state(state_dir)
    if state is None:
        return None
    pid, jar, url = int(state["pid"]), str(state["jar"]), str(state["url"])
    return (pid, jar, url) if _pid_is_ours(pid, jar) else None


def is_running(state_dir: Path = DEFAULT_STATE_DIR) -> str | None:
    """The base URL if this state dir's registry is up and answering, else None."""
    running = _running(Path(state_dir).resolve())
    if running is None or not answers(running[2]):
        return None
    return running[2]


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def start(
    state_dir: Path = DEFAULT_STATE_DIR,
    version: str | None = None,
    port: int | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> str:
    """Start (or find running) the registry; return its ccompat base URL."""
    state_dir = Path(state_dir).resolve()
    url = is_running(state_dir)
    if url is not None:
        _info("already running")
        return url
    stop(state_dir)  # a stale or hung instance of this state dir
    version = version or default_version()
    dist = fetch(version)
    launcher = find_launcher(dist)
    if launcher is None:
        raise LocalRegistryError(f"no launcher jar in {dist}")
    java = pick_java(version)
    http_port = port or _free_port()
    url = f"http://{HOST}:{http_port}{CCOMPAT}"
    state_dir.mkdir(parents=True, exist_ok=True)
    log_path = state_dir / _LOG_FILE
    cmd = [
        java,
        "-Xmx512m",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",  # ~2x faster start-up; plenty for tests
        f"-Djava.io.tmpdir={state_dir}",
        f"-Dquarkus.http.host={HOST}",
        f"-Dquarkus.http.port={http_port}",
        f"-Dquarkus.management.host={HOST}",  # 3.x health/metrics interface
        f"-Dquarkus.management.port={_free_port()}",
        "-Dquarkus.otel.sdk.disabled=true",
        f"-Dapicurio.storage.snapshot.location={state_dir}",
        "-jar",
        str(launcher),
    ]
    _info(f"starting Apicurio Registry {version} with {java}")
    started = time.monotonic()
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=dist,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    state = {"pid": proc.pid, "url": url, "version": version, "jar": str(launcher)}
    tmp_state = state_dir / (_STATE_FILE + ".tmp")
    tmp_state.write_text(json.dumps(state))
    os.replace(tmp_state, state_dir / _STATE_FILE)
    deadline = started + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            (state_dir / _STATE_FILE).unlink(missing_ok=True)
            raise LocalRegistryError(
                f"Apicurio exited with {proc.returncode}; log tail:\n{_tail(log_path)}"
            )
        if answers(url, timeout=1.0):
            _info(f"Apicurio Registry {version} up in {time.monotonic() - started:.1f}s")
            return url
        time.sleep(0.25)
    stop(state_dir)
    raise LocalRegistryError(f"not answering after {timeout:.0f}s; log tail:\n{_tail(log_path)}")


def stop(state_dir: Path = DEFAULT_STATE_DIR) -> None:
    """Stop this state dir's registry (SIGTERM, then SIGKILL after ~20 s); no-op if none."""
    state_dir = Path(state_dir).resolve()
    running = _running(state_dir)
    if running is not None:
        pid, jar, _ = running
        _info(f"stopping registry pid {pid}")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while _pid_is_ours(pid, jar) and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)  # reap it if we are its parent
            time.sleep(0.1)
        if _pid_is_ours(pid, jar):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    (state_dir / _STATE_FILE).unlink(missing_ok=True)


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="local-registry",
        description="Local Apicurio Registry (Confluent-compatible API) from Maven Central.",
    )
    sub = p.add_subparsers(dest="command", required=True)

    def state_arg(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--state-dir",
            type=Path,
            default=DEFAULT_STATE_DIR,
            help=f"pid/log dir (default: {DEFAULT_STATE_DIR})",
        )

    def version_arg(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--version",
            default=None,
            help=f"Apicurio version (default: {NEW_DEFAULT} with Java 21+, else {OLD_DEFAULT})",
        )

    sp = sub.add_parser("start", help="start the registry (idempotent); print its base URL")
    state_arg(sp)
    version_arg(sp)
    sp.add_argument("--port", type=int, default=None, help="HTTP port (default: free port)")
    sp.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="start-up timeout")
    sp = sub.add_parser("stop", help="stop the registry")
    state_arg(sp)
    sp = sub.add_parser("status", help="print the base URL if running (exit 0), else exit 1")
    state_arg(sp)
    sp = sub.add_parser("fetch", help="only fetch/cache the distribution")
    version_arg(sp)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "start":
            print(start(args.state_dir, args.version, port=args.port, timeout=args.timeout))
        elif args.command == "stop":
            stop(args.state_dir)
        elif args.command == "status":
            url = is_running(args.state_dir)
            if url is None:
                return 1
            print(url)
        elif args.command == "fetch":
            _info(f"distribution in {fetch(args.version or default_version())}")
    except LocalRegistryError as exc:
        print(f"local-registry: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
