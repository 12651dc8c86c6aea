"""The configuration model: one YAML file, validated at start-up into a frozen, typed tree.

Every error names the file, the field path and the reason (``ConfigError``; the CLI exits 2).
Secrets (the Braze REST key, Kafka passwords) must be references, ``${ENV_VAR}`` or
``${file:/path}``, resolved here and held as ``SecretStr``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

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


_SECRET_PROPERTY = re.compile(r"(password|secret|token|\.key$|key\.pem|credentials)", re.I)
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
        return v


class BrazeSettings(_Model):
    """The Braze REST endpoint of the workspace and its key."""

    rest_endpoint: str = Field(
        description="REST endpoint of the instance, e.g. https://rest.iad-01.braze.com, "
        "or the sandbox http://127.0.0.1:4010"
    )
    api_key: SecretStr = Field(description="REST API key: ${BRAZE_API_KEY} or ${file:/path}")
    connect_timeout_s: float = Field(5.0, gt=0, description="TCP/TLS connect timeout")
    request_timeout_s: float = Field(30.0, gt=0, description="Read/write timeout per request")
    max_in_flight: int = Field(16, ge=1, le=512, description="Concurrent requests at most")
    http_transport: Literal["lean", "httpx"] = Field(
        "lean",
        description="lean: the bridge's HTTP/1.1 keep-alive transport for httpx (~8x less "
        "CPU per request); httpx: httpx's default transport (honours HTTPS_PROXY)",
    )

    @field_validator("rest_endpoint")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+(:\d+)?/?$", v):
            raise ValueError("must be a URL like https://rest.iad-01.braze.com (no path)")
        return v.rstrip("/")


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
        60.0, gt=0, description="/healthz fails after this long without a poll"
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


# --- loading ------------------------------------------------------------------------------


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
            elif _SECRET_PROPERTY.search(str(name)) and "location" not in str(name):
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
        return Settings.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            problems.append((_loc(tuple(err["loc"])), msg))
        first_field, first_msg = problems[0]
        if len(problems) > 1:
            first_msg += "".join(f"\n  {file}: {f}: {m}" for f, m in problems[1:])
        raise ConfigError(first_msg, file=file, field=first_field or None) from exc


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
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config: {exc.strerror}", file=str(p)) from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(
            f"invalid YAML{where}: {getattr(exc, 'problem', exc)}", file=str(p)
        ) from exc
    return parse_settings(raw, file=str(p), base_dir=p.parent, environ=environ)
