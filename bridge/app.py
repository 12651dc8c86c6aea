"""The composition root: builds every stage from settings; :func:`preflight` does the start-up I/O.

``build`` only constructs: every adapter (consumer, producer, sender, state store, clock) can
be passed in, so a test builds the real loop around fakes. Start-up I/O (the topic check, the
state topic load, send-id creation) happens in :func:`preflight`, before ``build``; what fails
there is a :class:`~bridge.errors.StartupError` (exit 1), not an invalid configuration.
"""

from __future__ import annotations

import logging
import queue
import sys
from pathlib import Path
from typing import cast

from confluent_kafka import KafkaException, Producer
from prometheus_client import disable_created_metrics

from bridge.decode.base import Decoder
from bridge.decode.factory import build_decoder
from bridge.decode.registry import SchemaRegistryClient
from bridge.deliver.outcome import Control, Outcome
from bridge.deliver.sender import Sender
from bridge.errors import SourceError, StartupError
from bridge.kafka import clients
from bridge.kafka.deadletter import DeadLetterWriter
from bridge.kafka.state import StateStore
from bridge.ops import logs
from bridge.ops.health import HealthServer, HealthState
from bridge.ops.metrics import Metrics
from bridge.processing.clock import Clock
from bridge.processing.committer import Committer
from bridge.processing.loop import Loop
from bridge.processing.mapper import Mapper
from bridge.processing.ports import KafkaConsumer, Sending
from bridge.processing.sources import Source
from bridge.reload import Reloader
from bridge.rules.engine import RuleSet, compile_rules
from bridge.sendids import ensure_send_ids
from bridge.settings import KafkaSettings, Settings, load_settings, secret_values
from bridge.signals import Signals, StopFlag

log = logging.getLogger("bridge.app")
GIL_SWITCH_INTERVAL_S = 0.001


def make_decoders(
    settings: Settings, base_dir: Path
) -> tuple[SchemaRegistryClient | None, dict[str, Decoder]]:
    """Build one decoder per configured topic (and the default) at start-up."""
    registry = (
        SchemaRegistryClient.from_settings(settings.schema_registry)
        if settings.schema_registry
        else None
    )
    decoders: dict[str, Decoder] = {}
    for topic in set(settings.topics()) | set(settings.decoding):
        decoders[topic] = build_decoder(settings.decoder_for(topic), registry, base_dir)
    return registry, decoders


def decoder_lookup(settings: Settings, base_dir: Path) -> Mapper:
    """A mapper whose decoders are built at start-up (and on first use for pattern topics)."""
    registry, decoders = make_decoders(settings, base_dir)
    default = decoders.get("*")

    def decoder_for(topic: str) -> Decoder:
        d = decoders.get(topic) or default
        if d is None:
            d = decoders[topic] = build_decoder(settings.decoder_for(topic), registry, base_dir)
        return d

    return Mapper(decoder_for)


def needs_state(settings: Settings) -> bool:
    """Schedules and send ids need the shared state topic."""
    return any(r.schedule is not None or r.send_id for r in settings.rules if r.enabled)


# -- start-up I/O ------------------------------------------------------------------------------
def check_topics(settings: Settings) -> None:
    """Fail fast when the dead-letter topic does not exist (events could never become final)."""
    k = settings.kafka
    try:
        names = clients.topic_names(k)
    except KafkaException as exc:
        raise StartupError(f"cannot reach Kafka at {k.bootstrap_servers}: {exc}") from exc
    if k.dead_letter_topic not in names:
        raise StartupError(
            f"kafka.dead_letter_topic: dead-letter topic {k.dead_letter_topic!r} does not "
            "exist; create it (e.g. same partitions as the input, long retention)"
        )
    missing = [t for t in settings.topics() if not t.startswith("^") and t not in names]
    if missing:
        log.warning("input topics do not exist yet", extra={"topics": missing})


def preflight(settings: Settings, state: StateStore | None = None) -> StateStore | None:
    """Start-up I/O: check the topics, load the state topic, create missing send ids.

    Returns the loaded state store (``state``, or one built from settings) when the rules
    need it, else None.
    """
    check_topics(settings)
    if not needs_state(settings):
        return None
    if state is None:
        state = StateStore(settings.kafka, Producer(clients.state_producer_config(settings.kafka)))
    try:
        state.ensure_topic()
        loaded = state.load()
    except (KafkaException, SourceError) as exc:
        raise StartupError(str(exc)) from exc
    log.info("state loaded", extra={"topic": settings.kafka.state_topic, "keys": loaded})
    ensure_send_ids(settings, state)
    return state


# -- construction ------------------------------------------------------------------------------
def build(
    settings: Settings,
    rules: RuleSet,
    metrics: Metrics,
    health: HealthState,
    *,
    base_dir: Path,
    kafka: KafkaSettings | None = None,
    consumer: KafkaConsumer | None = None,
    producer: Producer | None = None,
    sender: Sending | None = None,
    outcomes: queue.SimpleQueue[Outcome | Control] | None = None,
    state: StateStore | None = None,
    source: Source | None = None,
    clock: Clock | None = None,
    stop: StopFlag | None = None,
) -> Loop:
    """Wire the loop from settings; ``kafka`` overrides the consumer's settings (replay).

    ``sender`` and ``outcomes`` go together: the sender reports into the outcome queue.
    """
    committer = Committer({}, metrics, settings.kafka.commit_interval_ms / 1000)
    if consumer is None:
        made = clients.make_consumer(kafka or settings.kafka, metrics, committer.on_commit)
        consumer = cast(KafkaConsumer, made)  # the stubs' signatures differ, not the calls
    if outcomes is None:
        outcomes = queue.SimpleQueue()
    if sender is None:
        sender = Sender(settings.braze, settings.delivery, metrics, outcomes.put)
    dlq = DeadLetterWriter(
        producer or clients.make_producer(settings.kafka), settings.kafka.dead_letter_topic
    )
    return Loop(
        settings,
        rules,
        decoder_lookup(settings, base_dir),
        consumer=consumer,
        committer=committer,
        dead_letters=dlq,
        sender=sender,
        outcomes=outcomes,
        metrics=metrics,
        health=health,
        state=state,
        source=source,
        clock=clock,
        stop=stop,
    )


def setup(path: Path) -> tuple[Settings, RuleSet, Metrics, HealthState, HealthServer | None]:
    """Load and validate the config, set up logs, metrics and the health server."""
    settings = load_settings(path)
    rules: RuleSet = compile_rules(settings, str(path))
    obs = settings.observability
    logs.setup(obs.log_level, obs.log_format, obs.pii)
    for secret in secret_values(settings):
        logs.register_secret(secret)
    disable_created_metrics()  # type: ignore[no-untyped-call]
    metrics = Metrics()
    health = HealthState(metrics, obs.liveness_timeout_s)
    server = HealthServer(health, obs.host, obs.port) if obs.port else None
    if server:
        server.start()
    return settings, rules, metrics, health, server


def run(config_path: str) -> int:
    """``braze-bridge run``: returns the process exit status."""
    path = Path(config_path)
    signals = Signals.install()
    settings, rules, metrics, health, server = setup(path)
    try:
        if signals.stop_requested:
            log.info("stopped during start-up")
            return 0
        state = preflight(settings)
        loop = build(
            settings, rules, metrics, health, base_dir=path.parent, state=state, stop=signals.stop
        )
        reloader = Reloader(path, loop, metrics)
        signals.on_hup = reloader.trigger
        reloader.start()
        log.info(
            "braze-bridge started",
            extra={
                "rules": len(rules.rules),
                "topics": settings.topics(),
                "endpoint": settings.braze.rest_endpoint,
                "group": settings.kafka.group_id,
                "metrics_port": server.port if server else None,
            },
        )
        # The sender thread (asyncio, I/O) competes with the poll loop (CPU) for the GIL. With
        # CPython's 5 ms switch interval it got the GIL too rarely while the loop consumed, so
        # requests queued up until back-pressure paused fetching; 1 ms keeps both moving
        # (match benchmark: ~40k -> ~50k recipients/s, docs/performance.md).
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
        try:
            loop.run()
        finally:
            reloader.stop()
    finally:
        if server:
            server.stop()
    log.info("braze-bridge stopped")
    return 0


__all__ = ["run", "build", "preflight", "setup", "Reloader", "Outcome", "Control"]
