"""The ``kafka`` block, and librdkafka's own validation of ``kafka.properties``.

Which property names hold secrets is decided here too (:func:`is_secret_property`): the
same rule refuses them as literals in the file and scrubs their values from logs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, field_validator

from bridge.settings.base import FrozenModel

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


class KafkaSettings(FrozenModel):
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


def is_secret_property(name: str) -> bool:
    """A ``kafka.properties`` name whose value is a secret (must be a reference; scrubbed)."""
    return _SECRET_PROPERTY.search(name) is not None and "location" not in name


def holds_inline_secret(value: str) -> bool:
    """A composite property value with a secret written inside it (``clientSecret=...``)."""
    return _SECRET_IN_VALUE.search(value) is not None
