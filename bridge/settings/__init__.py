"""The configuration model: one YAML file, validated at start-up into a frozen, typed tree.

Every error names the file, the field path and the reason (``ConfigError``; the CLI exits 78).
Secrets (the Braze REST key, Kafka passwords) must be references, ``${ENV_VAR}`` or
``${file:/path}``, resolved here and held as ``SecretStr``.

The package's modules, one block or step each: :mod:`~bridge.settings.kafka` (the ``kafka``
block and librdkafka's validation of its properties), :mod:`~bridge.settings.braze`
(endpoints, keys, workspaces), :mod:`~bridge.settings.delivery` (batching, retries, pacing,
breaker, shutdown), :mod:`~bridge.settings.observability`, :mod:`~bridge.settings.root` (the
whole :class:`Settings`), and loading: :mod:`~bridge.settings.yamlload` (bounded YAML),
:mod:`~bridge.settings.references` (secret references) and :mod:`~bridge.settings.loader`
(file, field and reason errors). Import from ``bridge.settings``: the names below are its
public surface.
"""

from __future__ import annotations

from bridge.settings.braze import (
    BRAZE_REST_HOSTS,
    DEFAULT_WORKSPACE,
    WORKSPACE_NAME,
    BrazeSettings,
    check_api_key,
    check_endpoint,
    endpoint_warnings,
)
from bridge.settings.delivery import (
    BatchingSettings,
    CircuitBreakerSettings,
    DeliverySettings,
    Outcome,
    PacingSettings,
    RetrySettings,
    ShutdownSettings,
)
from bridge.settings.kafka import (
    KafkaSettings,
    PropertyValue,
    check_librdkafka_properties,
    is_secret_property,
)
from bridge.settings.loader import load_settings, parse_settings
from bridge.settings.observability import ObservabilitySettings
from bridge.settings.root import Settings, check_workspaces, secret_values
from bridge.settings.yamlload import (
    MAX_ALIAS_EXPANSION,
    MAX_CONFIG_BYTES,
    MAX_YAML_DEPTH,
    YamlLimit,
    load_yaml,
)

__all__ = [
    "BRAZE_REST_HOSTS",
    "DEFAULT_WORKSPACE",
    "MAX_ALIAS_EXPANSION",
    "MAX_CONFIG_BYTES",
    "MAX_YAML_DEPTH",
    "WORKSPACE_NAME",
    "BatchingSettings",
    "BrazeSettings",
    "CircuitBreakerSettings",
    "DeliverySettings",
    "KafkaSettings",
    "ObservabilitySettings",
    "Outcome",
    "PacingSettings",
    "PropertyValue",
    "RetrySettings",
    "Settings",
    "ShutdownSettings",
    "YamlLimit",
    "check_api_key",
    "check_endpoint",
    "check_librdkafka_properties",
    "check_workspaces",
    "endpoint_warnings",
    "is_secret_property",
    "load_settings",
    "load_yaml",
    "parse_settings",
    "secret_values",
]
