"""The configuration model: one YAML file, validated at start-up into a frozen, typed tree.

Every error names the file, the field path and the reason (``ConfigError``; the CLI exits 78).
Secrets (the Braze REST key, Kafka passwords) must be references, ``${ENV_VAR}`` or
``${file:/path}``, resolved here and held as ``SecretStr``.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from bridge import secrets
from bridge.decode.settings import DecoderSettings, RegistrySettings
from bridge.errors import ConfigError
from bridge.rules.spec import RuleSettings


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


_SECRET_PROPERTY = re.compile(
    r"(password|secret|token|\.key$|key\.pem|credentials|sasl\.jaas\.config)", re.I
)
# a secret written inside a composite value, e.g. sasl.oauthbearer.config "clientSecret=..."
_SECRET_IN_VALUE = re.compile(r"(secret|password|token)\w*\s*=", re.I)
# librdkafka properties the bridge owns: overriding them would break delivery guarantees.
_RESERVED_PROPERTIES = frozenset(
    {"group.id", "bootstrap.servers", "enable.auto.commit", "enable.auto.offset.store"}
)

PropertyValue = str | int | float | bool


class KafkaSettings(_Model):
    """Where to consume from and where dead letters go."""

    bootstrap_servers: str = Field(description="Kafka bootstrap servers, host:port[,host:port]")
    group_id: str = Field("braze-bridge", description="Consumer group of all replicas")
    dead_letter_topic: str = Field("braze-bridge.dlq", description="Topic for dead letters")
    state_topic: str = Field(
        "braze-bridge.state",
        description="Compacted topic with schedule ids and created send ids (shared by replicas)",
    )
    state_dir: str | None = Field(
        None,
        description="Directory of the local state store (an SQLite copy of the state topic "
        "with its offsets; a restart reads only what changed). Default: "
        "$XDG_STATE_HOME/braze-bridge/<group_id> (~/.local/state/...). Any disk is fine: the "
        "topic is the source of truth",
    )
    state_cache_mib: int = Field(
        16, ge=1, le=4096, description="Page cache of the local state store (bounds its memory)"
    )
    state_expiry: bool = Field(
        True,
        description="Tombstone schedules whose send time passed and old cancel markers, so "
        "the compacted topic holds the live keys, not the history",
    )
    state_expiry_grace_s: float = Field(
        86_400.0,
        ge=0,
        description="How long after a schedule's send time (local time: +14 h) or a cancel "
        "its key is kept for late updates and cancels",
    )
    topics: list[str] | None = Field(
        None, description="Topics to subscribe to (default: every topic named by a rule)"
    )
    shadow_topic: str | None = Field(
        None, description="Where shadow rules record their intended requests (else: log only)"
    )
    auto_offset_reset: Literal["earliest", "latest"] = Field(
        "earliest", description="Where a new group starts"
    )
    properties: dict[str, PropertyValue] = Field(
        default_factory=dict,
        description="Any librdkafka property, passed through to consumer and producer "
        "(security.protocol, sasl.*, ssl.*). Secret values must be ${ENV}/${file:} refs. "
        "Consumer defaults the bridge sets unless given here: queued.max.messages.kbytes "
        "8192, fetch.queue.backoff.ms 50.",
    )
    poll_timeout_ms: int = Field(200, ge=1, le=5000, description="Longest single poll wait")
    consume_batch: int = Field(500, ge=1, le=100_000, description="Messages per consume call")
    max_events_in_flight: int = Field(
        10_000, ge=100, description="Pause fetching above this many unfinished events"
    )
    max_bytes_in_flight: int = Field(
        64 * 1024 * 1024, ge=1024 * 1024, description="Pause fetching above this many bytes"
    )
    commit_interval_ms: int = Field(
        0,
        ge=0,
        le=60_000,
        description="Commit final offsets at most this often (0: as soon as they advance, "
        "which bounds re-sends after a crash to the requests in flight)",
    )
    completion_map_bytes: int = Field(
        4096,
        ge=0,
        le=1_048_576,
        description="Budget of the completed-work map committed as offset metadata (events "
        "final above the commit, skipped after a crash). Must not exceed the broker's "
        "offset.metadata.max.bytes (default 4096; a lower broker limit is detected and "
        "adopted). 0: off (watermark-only commits)",
    )
    completion_map_interval_ms: int = Field(
        200,
        ge=10,
        le=10_000,
        description="Encode the completed-work map at most this often per partition (between "
        "encodings the last map is committed; completions since are re-sent after a crash)",
    )
    max_poll_interval_ms: int = Field(
        300_000, ge=10_000, description="librdkafka max.poll.interval.ms"
    )
    group_protocol: Literal["classic", "consumer"] = Field(
        "classic",
        description="classic (cooperative-sticky assignor) or consumer (KIP-848)",
    )

    @field_validator("properties")
    @classmethod
    def _no_reserved(cls, v: dict[str, PropertyValue]) -> dict[str, PropertyValue]:
        bad = sorted(_RESERVED_PROPERTIES & set(v))
        if bad:
            raise ValueError(f"{', '.join(bad)} are set by the bridge; use the dedicated fields")
        check_librdkafka_properties(v)
        return v


WORKSPACE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"
DEFAULT_WORKSPACE = "default"
# Fields of the braze block that each workspace inherits unless it sets its own.
_INHERITED = ("connect_timeout_s", "request_timeout_s", "max_in_flight", "http_transport")

_QUIET = logging.getLogger("bridge.settings.librdkafka-check")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False
_PROPERTY_NAME = re.compile(r'property:? "([^"]+)"')


def check_librdkafka_properties(props: Mapping[str, PropertyValue]) -> None:
    """Let librdkafka itself validate names and values, so ``check`` and ``run`` agree.

    A consumer with no brokers opens no connection; the reason names the property but never
    its value (it may be a password).
    """
    if not props:
        return
    from confluent_kafka import Consumer, KafkaException

    conf: dict[str, Any] = {"bootstrap.servers": "", "group.id": "check", "logger": _QUIET}
    conf.update(props)
    try:
        Consumer(conf).close()
    except (KafkaException, ValueError, TypeError) as exc:
        text = str(exc.args[0] if exc.args else exc)
        m = _PROPERTY_NAME.search(text)
        name = m.group(1) if m else "?"
        if "No such configuration property" in text:
            raise ValueError(f"{name}: unknown librdkafka property") from None
        raise ValueError(f"{name}: invalid value for this librdkafka property") from None


class BrazeSettings(_Model):
    """The Braze REST endpoint of the workspace and its key (or ``workspaces``: several)."""

    rest_endpoint: str = Field(
        description="REST endpoint of the instance, e.g. https://rest.iad-01.braze.com, "
        "or the sandbox http://127.0.0.1:4010 (with workspaces: in each workspace)"
    )
    api_key: SecretStr = Field(
        description="REST API key: ${BRAZE_API_KEY} or ${file:/path} (with workspaces: in each)",
    )
    connect_timeout_s: float = Field(5.0, gt=0, description="TCP/TLS connect timeout")
    request_timeout_s: float = Field(30.0, gt=0, description="Read/write timeout per request")
    max_in_flight: int = Field(16, ge=1, le=512, description="Concurrent requests at most")
    http_transport: Literal["lean", "httpx"] = Field(
        "lean",
        description="lean: the bridge's HTTP/1.1 keep-alive transport for httpx (~8x less "
        "CPU per request); httpx: httpx's default transport (honours HTTPS_PROXY)",
    )

    allow_insecure_http: bool = Field(
        False,
        description="Allow plain http:// to a host that is not loopback (the key then travels "
        "in clear); http:// to 127.0.0.1/::1/localhost is always allowed (the sandbox)",
    )

    workspaces: dict[str, BrazeSettings] | None = Field(
        None,
        description="Several Braze workspaces by name, each {rest_endpoint, api_key, ...}; "
        "instead of rest_endpoint/api_key here. Rules choose one with 'workspace'; the other "
        "fields of this block are the workspaces' defaults",
    )

    @model_validator(mode="before")
    @classmethod
    def _workspaces_block(cls, data: Any) -> Any:
        """With ``workspaces``: inherit this block's settings into each; this block itself
        takes the default workspace's endpoint and key (the one named ``default``, or the
        first) so code that knows one workspace keeps working."""
        if not isinstance(data, dict) or data.get("workspaces") is None:
            return data
        spaces = data["workspaces"]
        if not isinstance(spaces, dict) or not spaces:
            raise ValueError("workspaces must map at least one name to {rest_endpoint, api_key}")
        given = sorted({"rest_endpoint", "api_key"} & set(data))
        if given:
            raise ValueError(
                f"{' and '.join(given)} belong inside each workspace when workspaces are given"
            )
        merged: dict[str, Any] = {}
        for name, ws in spaces.items():
            if not isinstance(name, str) or not re.match(WORKSPACE_NAME, name):
                raise ValueError(f"workspace name {name!r} must match {WORKSPACE_NAME}")
            if isinstance(ws, dict):
                if "workspaces" in ws:
                    raise ValueError(f"workspace {name!r} cannot hold workspaces")
                ws = {**{k: data[k] for k in _INHERITED if k in data}, **ws}
            merged[name] = ws
        first = merged.get(DEFAULT_WORKSPACE) or next(iter(merged.values()))
        out = {**data, "workspaces": merged}
        if isinstance(first, dict):
            out.update({k: first[k] for k in ("rest_endpoint", "api_key") if k in first})
        return out

    @field_validator("rest_endpoint")
    @classmethod
    def _url(cls, v: str) -> str:
        return check_endpoint(v)

    @field_validator("api_key")
    @classmethod
    def _key_chars(cls, v: SecretStr) -> SecretStr:
        check_api_key(v.get_secret_value())
        return v

    @model_validator(mode="after")
    def _plain_http_only_to_loopback(self) -> BrazeSettings:
        host = urlsplit(self.rest_endpoint).hostname or ""
        if (
            self.rest_endpoint.startswith("http://")
            and not _is_loopback(host)
            and not self.allow_insecure_http
        ):
            raise ValueError(
                "rest_endpoint: plain http:// sends the API key in clear; use https://, or set "
                "braze.allow_insecure_http: true (only http://127.0.0.1 / localhost is allowed "
                "without it)"
            )
        return self

    def by_name(self) -> dict[str, BrazeSettings]:
        """Every workspace by name: the single block is the workspace ``default``."""
        return dict(self.workspaces) if self.workspaces else {DEFAULT_WORKSPACE: self}

    def default_workspace(self) -> str | None:
        """The workspace of a rule that names none: the only one, or ``default``; else None."""
        names = self.by_name()
        if len(names) == 1:
            return next(iter(names))
        return DEFAULT_WORKSPACE if DEFAULT_WORKSPACE in names else None


_URL_EXAMPLE = "a URL like https://rest.iad-01.braze.com"


def check_endpoint(v: str) -> str:
    """Validate a Braze REST endpoint; reasons never quote the value (it may hold a secret)."""
    if any(c.isspace() or not c.isprintable() for c in v):
        raise ValueError(f"must be {_URL_EXAMPLE} (it holds whitespace or control characters)")
    try:
        u = urlsplit(v)
        port = u.port
    except ValueError:
        raise ValueError(f"must be {_URL_EXAMPLE} (the host or port is invalid)") from None
    if u.scheme not in ("http", "https") or not u.hostname:
        raise ValueError(f"must be {_URL_EXAMPLE} (http:// or https:// and a host)")
    if u.username is not None or u.password is not None or "@" in u.netloc:
        raise ValueError(
            "must not contain credentials (user:password@); the API key is sent in the "
            "Authorization header, from braze.api_key"
        )
    if u.query or u.fragment or "?" in v or "#" in v:
        raise ValueError(f"must be {_URL_EXAMPLE} (no query or fragment)")
    if u.path not in ("", "/"):
        raise ValueError(f"must be {_URL_EXAMPLE} (no path)")
    if port is not None and not 1 <= port <= 65535 or v.rstrip("/").endswith(":"):
        raise ValueError(f"must be {_URL_EXAMPLE} (port 1-65535)")
    return v.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_api_key(key: str) -> None:
    """A Braze REST key is visible ASCII: anything else would stall or leak at request time.

    A non-Latin-1 character kills the request encoder; a line break is refused by the HTTP
    client (a two-line key file, or a file that is not a key at all). The reason names the
    position and kind of the first bad character, never the key.
    """
    if not key:
        raise ValueError("the API key is empty")
    if len(key) > 512:
        raise ValueError(f"the API key is {len(key)} characters long; is the file a key file?")
    for i, c in enumerate(key):
        if not "\x21" <= c <= "\x7e":
            what = (
                "a line break"
                if c in "\r\n"
                else "whitespace"
                if c.isspace()
                else f"U+{ord(c):04X}, not visible ASCII"
            )
            raise ValueError(
                f"the API key holds {what} at position {i + 1}; a key is visible ASCII "
                "without spaces (check the key file or variable for a second line or a "
                "pasted invisible character)"
            )


class BatchingSettings(_Model):
    """Recipients per request and how long to wait for more."""

    max_recipients: int = Field(50, ge=1, le=50, description="Recipients per request (Braze: ≤50)")
    linger_ms: int = Field(200, ge=0, le=60_000, description="Send a partial batch after this")


class RetrySettings(_Model):
    """Exponential backoff with full jitter for transient failures."""

    initial_backoff_ms: int = Field(200, ge=1)
    max_backoff_ms: int = Field(30_000, ge=1)
    max_elapsed_s: float = Field(
        900.0, gt=0, description="After this long a request is dead-lettered with its last error"
    )


class PacingSettings(_Model):
    """Pace requests from Braze's X-RateLimit-* headers so the budget lasts to the reset."""

    enabled: bool = True
    reserve_fraction: float = Field(
        0.1, ge=0, lt=1, description="Share of each window left for other users of the workspace"
    )
    even_spend: bool = Field(
        True,
        description="Estimate this replica's share of the workspace's spending from the "
        "headers and pace so all replicas together spend evenly to the reset",
    )
    audience_limit_per_minute: int = Field(
        10, ge=1, description="Broadcast requests per minute per unique audience (Braze: 10)"
    )


class CircuitBreakerSettings(_Model):
    """Halt instead of flooding the dead-letter topic."""

    enabled: bool = True
    window_s: float = Field(60.0, gt=0)
    min_events: int = Field(200, ge=1, description="Events in the window before it can open")
    max_dead_letter_ratio: float = Field(0.5, gt=0, le=1)
    probe_interval_s: float = Field(30.0, gt=0, description="Half-open retry after this long")


Outcome = Literal["accept", "dead_letter", "retry", "halt"]


class DeliverySettings(_Model):
    """How responses are classified and acted on."""

    retry: RetrySettings = RetrySettings()
    pacing: PacingSettings = PacingSettings()
    bulk_floor: float = Field(
        0.2,
        ge=0,
        lt=1,
        description="Bulk rules (priority: bulk) spend each window's budget only down to this "
        "share of the limit; the rest is left to transactional rules until the reset",
    )
    circuit_breaker: CircuitBreakerSettings = CircuitBreakerSettings()
    on_notice: Literal["dead_letter", "accept"] = Field(
        "dead_letter",
        description="2xx with a 'notice' (paused/archived Canvas: nothing was sent)",
    )
    status_overrides: dict[int, Outcome] = Field(
        default_factory=dict, description="Override the outcome of an HTTP status"
    )
    bisect: bool = Field(True, description="Split 400-rejected batches to isolate bad recipients")
    halt_probe_interval_s: float = Field(
        15.0, gt=0, description="While halted on 401/403, retry one request this often"
    )


class ObservabilitySettings(_Model):
    """Metrics/health HTTP server and logs."""

    host: str = "0.0.0.0"
    port: int = Field(9102, ge=0, le=65535, description="0 disables the HTTP server")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"
    pii: Literal["mask", "hash", "none"] = Field(
        "mask", description="How user ids/emails are logged"
    )
    liveness_timeout_s: float = Field(
        60.0,
        gt=0,
        description="/healthz fails after this long without a poll, or with requests in "
        "flight and no sender progress",
    )


class ShutdownSettings(_Model):
    drain_deadline_s: float = Field(25.0, gt=0, description="SIGTERM: finish in-flight work within")


# --- rules ----------------------------------------------------------------------------


class Settings(_Model):
    """The whole bridge configuration."""

    kafka: KafkaSettings
    braze: BrazeSettings
    batching: BatchingSettings = BatchingSettings()
    delivery: DeliverySettings = DeliverySettings()
    decoding: dict[str, DecoderSettings] = Field(
        default_factory=dict,
        description="Decoder per topic; the key '*' is the default (JSON when absent)",
    )
    schema_registry: RegistrySettings | None = None
    observability: ObservabilitySettings = ObservabilitySettings()
    shutdown: ShutdownSettings = ShutdownSettings()
    rules: list[RuleSettings] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> Settings:
        seen: set[str] = set()
        for r in self.rules:
            if r.name in seen:
                raise ValueError(f"rule name {r.name!r} is used twice")
            seen.add(r.name)
        return self

    def topics(self) -> list[str]:
        if self.kafka.topics:
            return list(self.kafka.topics)
        return sorted({r.topic for r in self.rules if r.enabled})

    def decoder_for(self, topic: str) -> DecoderSettings:
        return self.decoding.get(topic) or self.decoding.get("*") or DecoderSettings()

    def workspace_of(self, rule: RuleSettings) -> str:
        """The workspace ``rule`` sends to (validated at load: always a configured one)."""
        name = rule.workspace or self.braze.default_workspace()
        if name is None:
            raise ConfigError(f"rule {rule.name!r} names no workspace", field="rules")
        return name


# --- loading ------------------------------------------------------------------------------


_SUBFIELD = re.compile(r"^([a-z_]+): ")
_PROPERTY = re.compile(r"^([a-z0-9_.]+): ")


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


class _Lenient(dict[str, str]):
    """Environment for check/preview: unset variables resolve to a placeholder."""

    def __init__(self, base: Mapping[str, str], missing: list[str]) -> None:
        super().__init__(base)
        self.missing = missing

    def __contains__(self, key: object) -> bool:
        return True

    def __getitem__(self, key: str) -> str:
        if dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        self.missing.append(key)
        return "unset-" + key


def _resolve_secrets(
    raw: dict[str, Any], file: str, base: Path, env: Mapping[str, str] | None
) -> None:
    braze = raw.get("braze")
    if isinstance(braze, dict) and "api_key" in braze:
        key = braze["api_key"]
        if not isinstance(key, str) or not secrets.is_reference(key):
            raise ConfigError(
                "the API key must not be written in the file; use ${BRAZE_API_KEY} or "
                "${file:/path/to/key}",
                file=file,
                field="braze.api_key",
            )
        try:
            braze["api_key"] = secrets.resolve(key, environ=env, base_dir=base)
        except ValueError as exc:
            raise ConfigError(str(exc), file=file, field="braze.api_key") from exc
    spaces = braze.get("workspaces") if isinstance(braze, dict) else None
    if isinstance(spaces, dict):
        for name, ws in spaces.items():
            if isinstance(ws, dict) and "api_key" in ws:
                field = f"braze.workspaces.{name}.api_key"
                ws["api_key"] = _resolve_one(ws["api_key"], file, field, base, env)
    kafka = raw.get("kafka")
    props = kafka.get("properties") if isinstance(kafka, dict) else None
    if isinstance(props, dict):
        for name, value in list(props.items()):
            field = f"kafka.properties.{name}"
            if secrets.is_reference(value):
                try:
                    props[name] = secrets.resolve(str(value), environ=env, base_dir=base)
                except ValueError as exc:
                    raise ConfigError(str(exc), file=file, field=field) from exc
            elif is_secret_property(str(name)) or _SECRET_IN_VALUE.search(str(value)):
                raise ConfigError(
                    "secret values must be ${ENV_VAR} or ${file:/path} references",
                    file=file,
                    field=field,
                )
    reg = raw.get("schema_registry")
    if isinstance(reg, dict):
        for name in ("password", "bearer_token"):
            if name in reg and reg[name] is not None:
                value = reg[name]
                field = f"schema_registry.{name}"
                if not secrets.is_reference(value):
                    raise ConfigError(
                        "secret values must be ${ENV_VAR} or ${file:/path} references",
                        file=file,
                        field=field,
                    )
                try:
                    reg[name] = secrets.resolve(str(value), environ=env, base_dir=base)
                except ValueError as exc:
                    raise ConfigError(str(exc), file=file, field=field) from exc


def _resolve_one(
    value: Any, file: str, field: str, base: Path, env: Mapping[str, str] | None
) -> str:
    if not isinstance(value, str) or not secrets.is_reference(value):
        raise ConfigError(
            "the API key must not be written in the file; use ${BRAZE_API_KEY} or "
            "${file:/path/to/key}",
            file=file,
            field=field,
        )
    try:
        return secrets.resolve(value, environ=env, base_dir=base)
    except ValueError as exc:
        raise ConfigError(str(exc), file=file, field=field) from exc


def check_workspaces(settings: Settings, file: str) -> None:
    """Every enabled rule sends to a configured workspace (named, or the default one)."""
    names = settings.braze.by_name()
    default = settings.braze.default_workspace()
    for i, r in enumerate(settings.rules):
        if r.workspace is None and default is None:
            raise ConfigError(
                f"several workspaces ({', '.join(names)}) and none is named 'default': "
                "the rule must name its workspace",
                file=file,
                field=f"rules[{i}].workspace",
            )
        if r.workspace is not None and r.workspace not in names:
            raise ConfigError(
                f"unknown workspace {r.workspace!r} (configured: {', '.join(names)})",
                file=file,
                field=f"rules[{i}].workspace",
            )


def parse_settings(
    raw: Any,
    *,
    file: str = "<config>",
    base_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Validate an already-parsed YAML document into :class:`Settings`."""
    if not isinstance(raw, dict):
        raise ConfigError("the config must be a YAML mapping", file=file)
    base = base_dir or Path.cwd()
    _resolve_secrets(raw, file, base, environ)
    try:
        settings = Settings.model_validate(raw)
        check_workspaces(settings, file)
        return settings
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            loc = _loc(tuple(err["loc"]))
            # a validator naming one of its fields (or one librdkafka property)
            sub = (_PROPERTY if loc.endswith("properties") else _SUBFIELD).match(msg)
            if sub and err["type"] == "value_error":
                loc, msg = (f"{loc}.{sub.group(1)}" if loc else sub.group(1)), msg[sub.end() :]
            problems.append((loc, msg))
        first_field, first_msg = problems[0]
        if len(problems) > 1:
            first_msg += "".join(f"\n  {file}: {f}: {m}" for f, m in problems[1:])
        raise ConfigError(first_msg, file=file, field=first_field or None) from exc


MAX_CONFIG_BYTES = 32 * 1024 * 1024
MAX_YAML_DEPTH = 64
MAX_ALIAS_EXPANSION = 100_000  # nodes aliases may add beyond the file's own nodes


class YamlLimit(Exception):
    """The document exceeds a bound of the loader (depth, alias expansion)."""


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses deep nesting and alias bombs *before* building objects.

    Aliases share nodes, so a 1 KB file can stand for billions of values once anything walks
    it (validation, rule compilation). The expanded size is counted over the node graph
    (memoised per node), so the check itself stays linear in the file.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise YamlLimit(
                    f"YAML nested deeper than {MAX_YAML_DEPTH} levels at line {mark.line + 1}"
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _expanded_size(root: yaml.Node) -> tuple[int, int]:
    """(distinct nodes, nodes after expanding every alias) of a composed document."""
    sizes: dict[int, int] = {}
    order: list[yaml.Node] = []
    stack: list[yaml.Node] = [root]
    while stack:  # post-order without recursion
        n = stack.pop()
        if id(n) in sizes:
            continue
        sizes[id(n)] = -1
        order.append(n)
        stack.extend(_children(n))
    for n in reversed(order):
        sizes[id(n)] = min(1 + sum(sizes[id(c)] for c in _children(n)), 1 << 62)
    return len(order), sizes[id(root)]


def _children(n: yaml.Node) -> list[yaml.Node]:
    if isinstance(n, yaml.SequenceNode):
        return list(n.value)
    if isinstance(n, yaml.MappingNode):
        return [x for kv in n.value for x in kv]
    return []


def load_yaml(text: str) -> Any:
    """Parse one YAML document with bounded depth and alias expansion (raise YamlLimit)."""
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        distinct, expanded = _expanded_size(node)
        if expanded - distinct > MAX_ALIAS_EXPANSION:
            raise YamlLimit(
                f"YAML aliases expand the document beyond {MAX_ALIAS_EXPANSION} extra values "
                "(an alias bomb?); write the values out or use fewer nested aliases"
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()


def load_settings(
    path: str | Path,
    *,
    environ: Mapping[str, str] | None = None,
    missing_secrets: list[str] | None = None,
) -> Settings:
    """Read, resolve secrets in, and validate the YAML config at ``path``.

    With ``missing_secrets`` (a list), unset environment variables do not fail: their names
    are appended to it and a placeholder is used (for ``check`` and ``preview``).
    """
    if missing_secrets is not None:
        environ = _Lenient(os.environ if environ is None else environ, missing_secrets)
    p = Path(path)
    try:
        with p.open("rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read config: {exc.strerror}", file=str(p)) from exc
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"the config is larger than {MAX_CONFIG_BYTES // (1024 * 1024)} MB", file=str(p)
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"the config is not UTF-8 text (byte {exc.start} cannot be decoded)", file=str(p)
        ) from None
    try:
        raw = load_yaml(text)
    except YamlLimit as exc:
        raise ConfigError(str(exc), file=str(p)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(
            f"invalid YAML{where}: {getattr(exc, 'problem', exc)}", file=str(p)
        ) from exc
    return parse_settings(raw, file=str(p), base_dir=p.parent, environ=environ)


# Braze's REST hosts, one per instance (docs: "API basics", the instance list).
BRAZE_REST_HOSTS = frozenset(
    [f"rest.iad-0{i}.braze.com" for i in range(1, 9)]
    + ["rest.us-10.braze.com", "rest.fra-01.braze.eu", "rest.fra-02.braze.eu"]
    + [f"rest.{x}-01.braze.com" for x in ("au", "id", "jp", "kr")]
)
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]", "sandbox")


def endpoint_warnings(braze: BrazeSettings) -> list[str]:
    """``check``: every workspace's endpoint that is no Braze instance's REST host (loopback
    and the sandbox excepted), and plain http to a Braze host."""
    out = []
    for name, ws in braze.by_name().items():
        where = "braze" if braze.workspaces is None else f"braze.workspaces.{name}"
        scheme, _, rest = ws.rest_endpoint.partition("://")
        host = rest.rsplit(":", 1)[0] if not rest.startswith("[") else rest.split("]")[0] + "]"
        if host in BRAZE_REST_HOSTS:
            if scheme != "https":
                out.append(f"{where}.rest_endpoint: Braze serves {host} over https only")
        elif host not in _LOCAL_HOSTS and not host.startswith("127."):
            out.append(
                f"{where}.rest_endpoint: {host} is not a Braze REST host "
                "(rest.iad-01.braze.com ... rest.fra-02.braze.eu; see the REST endpoint next to "
                "the key under Settings > APIs and Identifiers)"
            )
    return out


def is_secret_property(name: str) -> bool:
    """A ``kafka.properties`` name whose value is a secret (must be a reference; scrubbed)."""
    return _SECRET_PROPERTY.search(name) is not None and "location" not in name


def secret_values(settings: Settings) -> list[str]:
    """Every secret value of ``settings``: each workspace's Braze key, the secret Kafka
    properties (the same rule that refuses them as literals) and the registry's password or
    token. Logs scrub each."""
    out = [ws.api_key.get_secret_value() for ws in settings.braze.by_name().values()]
    out += [str(v) for k, v in settings.kafka.properties.items() if is_secret_property(k)]
    reg = settings.schema_registry
    if reg is not None:
        out += [s.get_secret_value() for s in (reg.password, reg.bearer_token) if s is not None]
    return [v for v in out if v]
