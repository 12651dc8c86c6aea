"""The composition root: builds every stage from settings; :func:`preflight` does the start-up I/O.

``build`` only constructs: every adapter (consumer, producer, sender, state store, clock) can
be passed in, so a test builds the real loop around fakes. Start-up I/O (the topic check, the
state topic load, send-id creation) happens in :func:`preflight`, before ``build``; what fails
there is a :class:`~bridge.errors.StartupError` (exit 1), not an invalid configuration.
"""

from __future__ import annotations

import gc
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
from bridge.errors import ConfigError, SourceError, StartupError
from bridge.kafka import clients
from bridge.kafka.deadletter import DeadLetterWriter
from bridge.kafka.state import StateStore
from bridge.ops import logs
from bridge.ops.health import HealthServer, HealthState
from bridge.ops.metrics import Metrics
from bridge.processing.clock import Clock, SystemClock
from bridge.processing.committer import Committer
from bridge.processing.loop import Loop
from bridge.processing.mapper import Mapper
from bridge.processing.ports import KafkaConsumer, Sending
from bridge.processing.router import WorkspaceSender, WorkspaceSenders
from bridge.processing.sources import Source
from bridge.reload import Reloader
from bridge.ruleset import RuleSet, compile_rules
from bridge.sendids import ensure_send_ids
from bridge.settings import KafkaSettings, Settings, load_settings, secret_values
from bridge.signals import Signals, StopFlag

log = logging.getLogger("bridge.app")
GIL_SWITCH_INTERVAL_S = 0.001
GC_GEN0_THRESHOLD = 20_000


def tune_gc() -> None:
    """Collect once, move what start-up built (modules, settings, compiled rules) to the
    permanent generation, and collect generation 0 every 20,000 net allocations instead of
    700. The match path allocates a few short-lived objects per recipient that reference
    counting frees (they hold no cycles), yet with the default thresholds the cyclic
    collector kept rescanning them and the start-up heap: ~20 % of the bridge's CPU in the
    match benchmark (docs/performance.md). Cycles are still collected, only less often;
    generations 1 and 2 keep their thresholds."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


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
    return any(
        r.schedule is not None or r.send_id or r.generate_send_id
        for r in settings.rules
        if r.enabled
    )


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


def preflight(
    settings: Settings, state: StateStore | None = None, health: HealthState | None = None
) -> StateStore | None:
    """Start-up I/O: check the topics, load the state topic, create missing send ids.

    Returns the loaded state store (``state``, or one built from settings) when the rules
    need it, else None. While the state is restored ``health`` (if given) is not ready
    (``state_restore``) and its liveness is fed, so a long restore is not killed.
    """
    check_topics(settings)
    if not needs_state(settings):
        return None
    if state is None:
        state = StateStore(settings.kafka, Producer(clients.state_producer_config(settings.kafka)))
    try:
        state.ensure_topic()
        if health is not None:
            health.halted("state_restore", True)
        loaded = state.load(progress=health.polled if health is not None else None)
        if health is not None:
            health.halted("state_restore", False)
    except (KafkaException, SourceError) as exc:
        raise StartupError(str(exc)) from exc
    log.info("state loaded", extra={"topic": settings.kafka.state_topic, "keys": loaded})
    ensure_send_ids(settings, state)
    return state


# -- construction ------------------------------------------------------------------------------
def make_senders(
    settings: Settings,
    metrics: Metrics,
    outcomes: queue.SimpleQueue[Outcome | Control],
    health: HealthState | None = None,
) -> Sending:
    """One sender for the single ``braze`` block; with ``braze.workspaces``, one per workspace
    (own connections, pacer, halt state) behind a :class:`WorkspaceSenders`. Each sender is
    watched by liveness: work pending without progress fails ``/healthz``."""
    if settings.braze.workspaces is None:
        one = Sender(settings.braze, settings.delivery, metrics, outcomes.put)
        if health is not None:
            health.watch("sender", one.stalled_for)
        return one
    senders: dict[str, Sender] = {
        name: Sender(ws, settings.delivery, metrics, outcomes.put, workspace=name)
        for name, ws in settings.braze.workspaces.items()
    }
    if health is not None:
        for name, sender in senders.items():
            health.watch(f"sender:{name}", sender.stalled_for)
    return WorkspaceSenders(dict[str, WorkspaceSender](senders))


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
    k = settings.kafka
    clock = clock or SystemClock()
    committer = Committer(
        {},
        metrics,
        k.commit_interval_ms / 1000,
        map_interval_s=k.completion_map_interval_ms / 1000,
        clock=clock.monotonic,
    )
    if consumer is None:
        made = clients.make_consumer(kafka or settings.kafka, metrics, committer.on_commit)
        consumer = cast(KafkaConsumer, made)  # the stubs' signatures differ, not the calls
    if outcomes is None:
        outcomes = queue.SimpleQueue()
    if sender is None:
        sender = make_senders(settings, metrics, outcomes, health)
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
    clients.write_failure_hooks[:] = [lambda t: metrics.kafka_write_failures.labels(t).inc()]
    health = HealthState(metrics, obs.liveness_timeout_s)
    try:
        server = HealthServer(health, obs.host, obs.port) if obs.serves_http() else None
    except ConfigError as exc:
        raise ConfigError(exc.reason, file=str(path), field=exc.field) from None
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
        try:
            state = preflight(settings, health=health)
        except StartupError as exc:
            raise StartupError(f"{path}: {exc}") from exc.__cause__
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
                "workspaces": sorted(settings.braze.by_name()),
                "group": settings.kafka.group_id,
                "metrics_port": server.port if server else None,
            },
        )
        # The sender thread (asyncio, I/O) competes with the poll loop (CPU) for the GIL. With
        # CPython's 5 ms switch interval it got the GIL too rarely while the loop consumed, so
        # requests queued up until back-pressure paused fetching; 1 ms keeps both moving
        # (match benchmark: ~40k -> ~50k recipients/s, docs/performance.md).
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
        tune_gc()
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
