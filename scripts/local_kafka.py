#!/usr/bin/env python3
"""Local single-node Apache Kafka (KRaft) broker for tests and demos.

Stdlib only: runs with a plain ``python3``.  The broker is assembled from the
published Maven Central jars (``org.apache.kafka:kafka_2.13``), fetched once
into a cache that survives between runs, and started as a detached ``java``
process whose state (data, config, logs, pid, ports) lives in a state dir.

CLI::

    scripts/local-kafka start [--state-dir DIR] [--port N] [--fresh] [--timeout S]
    scripts/local-kafka stop [--state-dir DIR]
    scripts/local-kafka status [--state-dir DIR]
    scripts/local-kafka fetch

``start`` prints only the bootstrap address (``127.0.0.1:PORT``) on stdout;
progress goes to stderr.  Exit codes: 0 ok, 1 failure, 3 missing tool.

Python API (import this file by path)::

    fetch_jars() -> Path
    start(state_dir, port=None, fresh=False, timeout=90.0) -> str
    stop(state_dir) -> None
    is_running(state_dir) -> str | None
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

# ---------------------------------------------------------------------------
# Pinned versions
# ---------------------------------------------------------------------------
KAFKA_VERSION = "4.1.1"
#: log4j2 version matching the log4j-api/log4j-core that kafka_2.13 4.1.1 pulls in;
#: log4j-slf4j-impl binds Kafka's slf4j 1.7 API to it so broker logs are readable.
LOG4J_VERSION = "2.24.3"
MAVEN_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

MIN_JAVA_MAJOR = 17
DEFAULT_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 20.0
HOST = "127.0.0.1"

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_STATE_DIR = REPO_ROOT / ".local" / "kafka"

EXIT_FAILURE = 1
EXIT_MISSING_TOOL = 3

# Files inside the state dir.
_PID_FILE = "kafka.pid"
_PORTS_FILE = "ports.json"
_CLUSTER_ID_FILE = "cluster.id"
_SERVER_PROPS = "server.properties"
_LOG4J_CONFIG = "log4j2.properties"
_STDOUT_LOG = "kafka.out"
_SERVER_LOG = "server.log"
_DATA_DIR = "data"
_CDS_DUMP = "cds-dump.jsa"
_CDS_TARGET = "cds-dump.target"


class LocalKafkaError(Exception):
    """The local broker could not be fetched, started or stopped."""

    exit_code = EXIT_FAILURE


class _BrokerExitedError(LocalKafkaError):
    """The broker process died before it answered."""


class MissingToolError(LocalKafkaError):
    """A required tool (java, mvn) is missing or too old."""

    exit_code = EXIT_MISSING_TOOL


def _info(msg: str) -> None:
    print(f"local-kafka: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------
def _java_bin() -> tuple[str, str]:
    """(path, ``-version`` text) of a Java >= 17 ``java`` (``$JAVA_HOME`` first).

    Raises MissingToolError when there is none.
    """
    java_home = os.environ.get("JAVA_HOME")
    candidate = None
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        candidate = str(Path(java_home) / "bin" / "java")
    else:
        candidate = shutil.which("java")
    if candidate is None:
        raise MissingToolError(
            f"java not found: install a Java {MIN_JAVA_MAJOR}+ JRE/JDK "
            "(e.g. apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
        )
    try:
        out = subprocess.run(
            [candidate, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MissingToolError(f"cannot run {candidate} -version: {exc}") from exc
    text = out.stderr + out.stdout
    match = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    major = 0
    if match:
        major = int(match.group(1))
        if major == 1 and match.group(2):  # "1.8.0_x" style
            major = int(match.group(2))
    if major < MIN_JAVA_MAJOR:
        raise MissingToolError(
            f"Java {MIN_JAVA_MAJOR}+ required but {candidate} is "
            f"{major or 'unknown'}: install openjdk-17-jre-headless (or newer) or set JAVA_HOME"
        )
    return candidate, text


def _mvn_bin() -> str:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise MissingToolError(
            "mvn not found (needed once to fetch the Kafka jars): "
            "install Apache Maven 3.x (e.g. apt-get install maven)"
        )
    return mvn


# ---------------------------------------------------------------------------
# Jar cache
# ---------------------------------------------------------------------------
def cache_root() -> Path:
    base = os.environ.get("BRAZE_BRIDGE_CACHE")
    root = Path(base) if base else Path.home() / ".cache" / "braze-bridge"
    return root / "kafka"


def libs_dir() -> Path:
    return cache_root() / KAFKA_VERSION / "libs"


_POM_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.braze-bridge</groupId>
  <artifactId>kafka-broker-classpath</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>{log4j}</version>
      <scope>runtime</scope>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version>
      <scope>runtime</scope>
    </dependency>
  </dependencies>
</project>
"""


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _libs_ok(libs: Path) -> bool:
    return libs.is_dir() and (libs / f"kafka_2.13-{KAFKA_VERSION}.jar").is_file()


def fetch_jars() -> Path:
    """Fetch the broker classpath into the cache once; return the libs dir."""
    libs = libs_dir()
    if _libs_ok(libs):
        return libs
    root = cache_root()
    with _file_lock(root / f".{KAFKA_VERSION}.lock"):
        if _libs_ok(libs):  # another process finished it while we waited
            return libs
        mvn = _mvn_bin()
        libs.parent.mkdir(parents=True, exist_ok=True)
        _info(f"fetching Kafka {KAFKA_VERSION} jars from Maven Central (once) ...")
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix=".fetch-", dir=libs.parent) as tmp:
            tmp_path = Path(tmp)
            pom = tmp_path / "pom.xml"
            pom.write_text(_POM_TEMPLATE.format(kafka=KAFKA_VERSION, log4j=LOG4J_VERSION))
            out_dir = tmp_path / "libs"
            cmd = [
                mvn,
                "-q",
                "-B",
                "-Dstyle.color=never",
                "-f",
                str(pom),
                f"{MAVEN_DEPENDENCY_PLUGIN}:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={out_dir}",
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0 or not (out_dir / f"kafka_2.13-{KAFKA_VERSION}.jar").is_file():
                tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-30:])
                raise LocalKafkaError(
                    f"mvn failed to fetch the Kafka jars (exit {proc.returncode}):\n{tail}"
                )
            if libs.exists():  # a stale/partial dir without the marker jar
                shutil.rmtree(libs)
            os.rename(out_dir, libs)  # atomic: a half-finished download is never used
        _info(f"fetched {len(list(libs.iterdir()))} jars in {time.monotonic() - started:.1f}s")
    return libs


# ---------------------------------------------------------------------------
# Kafka wire protocol (readiness probe)
# ---------------------------------------------------------------------------
_API_METADATA = 3
_API_VERSIONS = 18


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by broker")
        buf += chunk
    return bytes(buf)


def _request(sock: socket.socket, api_key: int, version: int, corr: int, body: bytes) -> bytes:
    """Send a non-flexible request (header v1) and return the response body."""
    client_id = b"local-kafka"
    header = struct.pack(">hhih", api_key, version, corr, len(client_id)) + client_id
    payload = header + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    (size,) = struct.unpack(">i", _recv_exact(sock, 4))
    resp = _recv_exact(sock, size)
    (resp_corr,) = struct.unpack(">i", resp[:4])
    if resp_corr != corr:
        raise ConnectionError(f"correlation id mismatch {resp_corr} != {corr}")
    return resp[4:]  # response header v0 is just the correlation id


def probe(host: str, port: int, timeout: float = 2.0) -> bool:
    """True when a Kafka broker answers ApiVersions and lists itself in Metadata."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            body = _request(sock, _API_VERSIONS, 0, 1, b"")
            (error_code, count) = struct.unpack(">hi", body[:6])
            if error_code != 0:
                return False
            versions: dict[int, tuple[int, int]] = {}
            for i in range(count):
                key, vmin, vmax = struct.unpack(">hhh", body[6 + 6 * i : 12 + 6 * i])
                versions[key] = (vmin, vmax)
            meta = versions.get(_API_METADATA)
            if meta is None or not meta[0] <= 4 <= meta[1]:
                return True  # cannot speak Metadata v4; ApiVersions answered, good enough
            # Metadata v4: topics=[] (none), allow_auto_topic_creation=false.
            body = _request(sock, _API_METADATA, 4, 2, struct.pack(">ib", 0, 0))
            (_throttle, n_brokers) = struct.unpack(">ii", body[:8])
            return int(n_brokers) > 0
    except (OSError, ConnectionError, struct.error):
        return False


# ---------------------------------------------------------------------------
# State dir helpers
# ---------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
        return True


def _read_ports(state_dir: Path) -> dict[str, int] | None:
    try:
        data = json.loads((state_dir / _PORTS_FILE).read_text())
        return {"broker": int(data["broker"]), "controller": int(data["controller"])}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _read_pid(state_dir: Path) -> int | None:
    try:
        return int((state_dir / _PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def _proc_cmdline(pid: int) -> str | None:
    """Command line of a live, non-zombie process, or None."""
    proc = Path(f"/proc/{pid}")
    if proc.is_dir():
        try:
            stat = (proc / "stat").read_text()
            state = stat.rsplit(")", 1)[1].split()[0]
            if state in ("Z", "X"):
                return None
            return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError):
            return None
    try:  # no /proc (macOS): ask ps
        out = subprocess.run(
            ["ps", "-o", "stat=,command=", "-p", str(pid)],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return None
    line = out.stdout.strip()
    if out.returncode != 0 or not line or line.startswith("Z"):
        return None
    return line


def _broker_pid(state_dir: Path) -> int | None:
    """PID of the live broker that belongs to this state dir, else None."""
    pid = _read_pid(state_dir)
    if pid is None:
        return None
    cmdline = _proc_cmdline(pid)
    if cmdline is None:
        return None
    if "kafka.Kafka" not in cmdline or str(state_dir / _SERVER_PROPS) not in cmdline:
        return None  # the pid was recycled by an unrelated process
    return pid


def _tail(path: Path, lines: int) -> str:
    try:
        data = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"(no {path.name})"
    return "\n".join(data[-lines:]) or f"({path.name} is empty)"


def _log_tails(state_dir: Path) -> str:
    return (
        f"--- tail of {state_dir / _SERVER_LOG} ---\n{_tail(state_dir / _SERVER_LOG, 40)}\n"
        f"--- tail of {state_dir / _STDOUT_LOG} ---\n{_tail(state_dir / _STDOUT_LOG, 20)}"
    )


def is_running(state_dir: Path = DEFAULT_STATE_DIR) -> str | None:
    """Bootstrap address if this state dir's broker is running and answering, else None."""
    state_dir = Path(state_dir).resolve()
    if _broker_pid(state_dir) is None:
        return None
    ports = _read_ports(state_dir)
    if ports is None:
        return None
    return f"{HOST}:{ports['broker']}" if probe(HOST, ports["broker"]) else None


# ---------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------
def _server_properties(state_dir: Path, broker_port: int, controller_port: int) -> str:
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{HOST}:{controller_port}",
        "listeners": f"PLAINTEXT://{HOST}:{broker_port},CONTROLLER://{HOST}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{broker_port}",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(state_dir / _DATA_DIR),
        "num.partitions": "1",
        "default.replication.factor": "1",
        "auto.create.topics.enable": "true",
        "delete.topic.enable": "true",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "4",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "log.cleaner.enable": "true",
        "log.cleaner.threads": "1",
        "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
        "num.network.threads": "2",
        "num.io.threads": "4",
        "num.recovery.threads.per.data.dir": "1",
    }
    lines = ["# Written by scripts/local_kafka.py; regenerated on every start."]
    lines += [f"{k}={v}" for k, v in props.items()]
    return "\n".join(lines) + "\n"


def _log4j_config(state_dir: Path) -> str:
    log_file = str(state_dir / _SERVER_LOG)
    return f"""# Written by scripts/local_kafka.py
status = warn
shutdownHook = disable
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {log_file}
appender.file.append = true
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = WARN
logger.storage.name = org.apache.kafka.storage
logger.storage.level = WARN
logger.controller.name = org.apache.kafka.controller
logger.controller.level = WARN
logger.raft.name = org.apache.kafka.raft
logger.raft.level = WARN
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
logger.clientscfg.name = org.apache.kafka.common.config.AbstractConfig
logger.clientscfg.level = WARN
"""


def _cds_archive(java: str, version_text: str) -> Path:
    """Cache path of the AppCDS archive for this JVM + broker classpath.

    A dynamic class-data-sharing archive, written by the first broker that stops
    cleanly, roughly halves later JVM start-up.  The JVM checks it itself and
    silently ignores an archive that does not match (-Xshare:auto).
    """
    key = hashlib.sha256(f"{java}\n{version_text}\n{libs_dir()}".encode()).hexdigest()[:12]
    return cache_root() / KAFKA_VERSION / f"cds-{key}.jsa"


_CDS_DYNAMIC_MAGIC = 0xF00BABA8  # HotSpot's dynamic-archive header magic (native order)


def _cds_usable(cds: Path) -> bool:
    """True if ``cds`` looks like a dynamic CDS archive; removes a corrupt one."""
    try:
        with open(cds, "rb") as fh:
            head = fh.read(4)
    except OSError:
        return False
    if len(head) == 4 and struct.unpack("=I", head)[0] == _CDS_DYNAMIC_MAGIC:
        return True
    cds.unlink(missing_ok=True)  # corrupt: let the next clean stop write a new one
    return False


def _java_cmd(
    java: str, libs: Path, state_dir: Path, main: str, *args: str, jvm_opts: tuple[str, ...] = ()
) -> list[str]:
    return [
        java,
        *jvm_opts,
        "-Xlog:cds*=off",
        "-Xmx512m",
        "-Xms128m",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={state_dir / _LOG4J_CONFIG}",
        f"-Dkafka.logs.dir={state_dir}",
        "-cp",
        f"{libs}/*",
        main,
        *args,
    ]


# ---------------------------------------------------------------------------
# start / stop
# ---------------------------------------------------------------------------
def _wait_ready(state_dir: Path, pid: int, port: int, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        if probe(HOST, port):
            return f"{HOST}:{port}"
        if _broker_pid(state_dir) != pid:
            raise _BrokerExitedError(
                f"Kafka broker (pid {pid}) exited during start-up\n{_log_tails(state_dir)}"
            )
        if time.monotonic() >= deadline:
            tails = _log_tails(state_dir)  # before the shutdown noise
            _terminate(pid)
            (state_dir / _PID_FILE).unlink(missing_ok=True)
            raise LocalKafkaError(
                f"Kafka broker did not answer on {HOST}:{port} within {timeout:.0f}s "
                f"(stopped it)\n{tails}"
            )
        time.sleep(0.2)


def _format_storage(java: str, libs: Path, state_dir: Path, cds: Path) -> None:
    data = state_dir / _DATA_DIR
    if (data / "meta.properties").is_file():
        return
    cluster_id_file = state_dir / _CLUSTER_ID_FILE
    if cluster_id_file.is_file():
        cluster_id = cluster_id_file.read_text().strip()
    else:
        # Same encoding as `kafka-storage.sh random-uuid` (Uuid.randomUuid().toString()):
        # URL-safe base64 of 16 random bytes; like Kafka, avoid a leading '-'.
        cluster_id = "-"
        while cluster_id.startswith("-"):
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        _write_atomic(cluster_id_file, cluster_id + "\n")
    cmd = _java_cmd(
        java,
        libs,
        state_dir,
        "kafka.tools.StorageTool",
        "format",
        "--ignore-formatted",
        "-t",
        cluster_id,
        "-c",
        str(state_dir / _SERVER_PROPS),
        jvm_opts=(f"-XX:SharedArchiveFile={cds}",) if cds.is_file() else (),
    )
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
        raise LocalKafkaError(f"kafka storage format failed (exit {proc.returncode}):\n{tail}")


def _choose_ports(state_dir: Path, port: int | None) -> dict[str, int]:
    stored = _read_ports(state_dir)
    if stored is not None:
        ports = dict(stored)
        if port is not None:
            ports["broker"] = port
    else:
        broker = port if port is not None else _free_port()
        controller = _free_port()
        while controller == broker:
            controller = _free_port()
        ports = {"broker": broker, "controller": controller}
    for name, p in ports.items():
        if not _port_free(p):
            raise LocalKafkaError(f"{name} port {HOST}:{p} is already in use")
    _write_atomic(state_dir / _PORTS_FILE, json.dumps(ports) + "\n")
    return ports


def start(
    state_dir: Path = DEFAULT_STATE_DIR,
    port: int | None = None,
    fresh: bool = False,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> str:
    """Start (or reuse) the broker of ``state_dir``; return its bootstrap address.

    Idempotent: a broker already running from this state dir is reused.  After
    ``stop()`` the same state dir starts the same broker again (same ports, same
    data, no re-format).  ``fresh=True`` stops it and wipes the state dir first.
    """
    state_dir = Path(state_dir).resolve()
    java, java_version = _java_bin()
    state_dir.mkdir(parents=True, exist_ok=True)
    with _file_lock(state_dir.parent / f".{state_dir.name}.lock"):
        if fresh:
            stop(state_dir)
            shutil.rmtree(state_dir, ignore_errors=True)
            state_dir.mkdir(parents=True, exist_ok=True)

        pid = _broker_pid(state_dir)
        if pid is not None:
            ports = _read_ports(state_dir)
            if ports is not None and (port is None or port == ports["broker"]):
                # Running (maybe still starting): wait for it rather than start another.
                return _wait_ready(state_dir, pid, ports["broker"], timeout)
            raise LocalKafkaError(
                f"a broker (pid {pid}) already runs from {state_dir} on other ports; stop it first"
            )

        libs = fetch_jars()
        ports = _choose_ports(state_dir, port)
        (state_dir / _SERVER_PROPS).write_text(
            _server_properties(state_dir, ports["broker"], ports["controller"])
        )
        (state_dir / _LOG4J_CONFIG).write_text(_log4j_config(state_dir))
        cds = _cds_archive(java, java_version)
        _cds_usable(cds)
        _format_storage(java, libs, state_dir, cds)
        if cds.is_file():
            try:
                return _launch(java, libs, state_dir, ports["broker"], timeout, cds)
            except _BrokerExitedError:
                # Possibly a bad class-data archive: drop it and try once without.
                _info(f"broker died during start-up; retrying without {cds.name}")
                cds.unlink(missing_ok=True)
        return _launch(java, libs, state_dir, ports["broker"], timeout, cds)


def _launch(java: str, libs: Path, state_dir: Path, port: int, timeout: float, cds: Path) -> str:
    """Start the broker process detached and wait until it answers."""
    if cds.is_file():
        jvm_opts: tuple[str, ...] = (f"-XX:SharedArchiveFile={cds}",)
        (state_dir / _CDS_TARGET).unlink(missing_ok=True)
    else:
        # No archive yet: this broker writes one when it exits; stop() moves it to the cache.
        dump = state_dir / _CDS_DUMP
        dump.unlink(missing_ok=True)
        _write_atomic(state_dir / _CDS_TARGET, f"{cds}\n")
        jvm_opts = (f"-XX:ArchiveClassesAtExit={dump}",)
    started = time.monotonic()
    props = str(state_dir / _SERVER_PROPS)
    cmd = _java_cmd(java, libs, state_dir, "kafka.Kafka", props, jvm_opts=jvm_opts)
    # Launch through `sh ... &` so the broker is re-parented away from us (no zombie
    # for our process to reap) and runs in its own session, detached from the terminal.
    launcher = 'log="$1"; shift; "$@" >>"$log" 2>&1 </dev/null & echo $!'
    out = subprocess.run(
        ["sh", "-c", launcher, "sh", str(state_dir / _STDOUT_LOG), *cmd],
        capture_output=True,
        text=True,
        check=False,
        start_new_session=True,
        cwd=state_dir,
    )
    try:
        pid = int(out.stdout.strip())
    except ValueError as exc:
        raise LocalKafkaError(f"could not launch the broker: {out.stderr.strip()}") from exc
    _write_atomic(state_dir / _PID_FILE, f"{pid}\n")
    _info(f"broker pid {pid} starting on {HOST}:{port} (state {state_dir})")
    bootstrap = _wait_ready(state_dir, pid, port, timeout)
    _info(f"broker ready in {time.monotonic() - started:.1f}s")
    return bootstrap


def _terminate(pid: int, grace: float = STOP_TIMEOUT_S) -> bool:
    """SIGTERM, then SIGKILL after ``grace`` s; True if it exited on SIGTERM."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if _proc_cmdline(pid) is None:
            return True
        time.sleep(0.1)
    _info(f"broker pid {pid} ignored SIGTERM for {grace:.0f}s; sending SIGKILL")
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _proc_cmdline(pid) is not None:
        time.sleep(0.1)
    return False


def _keep_cds_archive(state_dir: Path, clean_exit: bool) -> None:
    """Move the class-data archive a cleanly stopped broker wrote into the cache."""
    dump = state_dir / _CDS_DUMP
    target_file = state_dir / _CDS_TARGET
    try:
        if clean_exit and dump.is_file() and dump.stat().st_size > 0:
            target = Path(target_file.read_text().strip())
            if target.parent.is_dir() and not target.exists():
                os.replace(dump, target)
    except OSError:
        pass
    dump.unlink(missing_ok=True)
    target_file.unlink(missing_ok=True)


def stop(state_dir: Path = DEFAULT_STATE_DIR) -> None:
    """Stop this state dir's broker (SIGTERM, then SIGKILL after ~20 s); no-op if none."""
    state_dir = Path(state_dir).resolve()
    pid = _broker_pid(state_dir)
    if pid is not None:
        _info(f"stopping broker pid {pid}")
        _keep_cds_archive(state_dir, _terminate(pid))
    (state_dir / _PID_FILE).unlink(missing_ok=True)


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="local-kafka",
        description=f"Local single-node Apache Kafka {KAFKA_VERSION} (KRaft) from Maven jars.",
    )
    sub = p.add_subparsers(dest="command", required=True)

    def state_arg(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--state-dir",
            type=Path,
            default=DEFAULT_STATE_DIR,
            help=f"broker data/config/log dir (default: {DEFAULT_STATE_DIR})",
        )

    sp = sub.add_parser("start", help="start the broker (idempotent); print bootstrap address")
    state_arg(sp)
    sp.add_argument("--port", type=int, default=None, help="broker port (default: free port)")
    sp.add_argument("--fresh", action="store_true", help="wipe the state dir first")
    sp.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="start-up timeout")
    sp = sub.add_parser("stop", help="stop the broker")
    state_arg(sp)
    sp = sub.add_parser("status", help="print address if running (exit 0), else exit 1")
    state_arg(sp)
    sub.add_parser("fetch", help="only fetch/cache the broker jars")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "start":
            print(start(args.state_dir, port=args.port, fresh=args.fresh, timeout=args.timeout))
        elif args.command == "stop":
            stop(args.state_dir)
        elif args.command == "status":
            addr = is_running(args.state_dir)
            if addr is None:
                return 1
            print(addr)
        elif args.command == "fetch":
            _info(f"jars in {fetch_jars()}")
    except LocalKafkaError as exc:
        print(f"local-kafka: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
