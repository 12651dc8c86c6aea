"""The bridge's single exception tree.

    BridgeError
    ├── ConfigError            bad configuration: file, field path and reason; exit status 78
    ├── StartupError           start-up I/O failed (Kafka unreachable, state topic unreadable);
    │                          exit status 1
    ├── SourceError            Kafka consumer/producer failures (wraps KafkaError)
    ├── DecodeError            an event's bytes cannot be decoded (the event is dead-lettered)
    │   └── SchemaRegistryUnavailable   transient: the registry cannot be reached (retry, pause)
    ├── RuleSpecError          a rule's text cannot be compiled: field path and reason
    │                          (``compile_rule`` reports it as a ConfigError)
    └── RuleError              an event cannot be mapped by a rule (missing field, bad type, limit)

Delivery failures are not exceptions: the sender classifies each answer into a verdict
(``bridge.deliver.classify``) and reports an outcome; a dead letter's ``__bridge.errors.class``
is that verdict (``bad_request``, ...) or the decode/rule exception's class name.

Library errors are translated at the boundary with ``raise ... from exc``.
"""

from __future__ import annotations


class BridgeError(Exception):
    """Root of every error the bridge raises on purpose."""


class ConfigError(BridgeError):
    """A configuration problem, naming the file, the field path and the reason."""

    def __init__(self, reason: str, *, file: str | None = None, field: str | None = None) -> None:
        self.file = file
        self.field = field
        self.reason = reason
        where = ": ".join(p for p in (file, field) if p)
        super().__init__(f"{where}: {reason}" if where else reason)


class StartupError(BridgeError):
    """The bridge could not start: Kafka unreachable, a required topic unreadable (exit 1)."""


class SourceError(BridgeError):
    """Kafka failed in a way the bridge cannot handle by itself."""


class DecodeError(BridgeError):
    """The event's bytes could not be decoded."""


class SchemaRegistryUnavailable(DecodeError):
    """The schema registry could not be reached; transient, the event is retried."""


class RuleSpecError(BridgeError, ValueError):
    """A rule's spec cannot be compiled: ``field`` is the full path (``rules[0].when.x``),
    ``reason`` what is wrong with it.

    Raised by the rule and action compilers; ``bridge.ruleset.compile_rule`` reports it
    as ``ConfigError(reason, field=field)``. It is also a ``ValueError``, as every parser's
    error is, so a compiler used on its own (preview's explanation of a non-match) is caught
    the same way as a bad path or duration.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class RuleError(BridgeError):
    """A rule could not map an event (e.g. a required field is missing)."""

    def __init__(self, message: str, *, rule: str | None = None, path: str | None = None) -> None:
        self.rule = rule
        self.path = path
        super().__init__(message)
