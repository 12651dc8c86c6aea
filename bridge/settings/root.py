"""The whole configuration (:class:`Settings`), the rule-to-workspace check and the list of
its secret values."""

from __future__ import annotations

from pydantic import Field, model_validator

from bridge.decode.settings import DecoderSettings, RegistrySettings
from bridge.errors import ConfigError
from bridge.rules.spec import RuleSettings
from bridge.settings.base import FrozenModel
from bridge.settings.braze import BrazeSettings
from bridge.settings.delivery import BatchingSettings, DeliverySettings, ShutdownSettings
from bridge.settings.kafka import KafkaSettings, is_secret_property
from bridge.settings.observability import ObservabilitySettings


class Settings(FrozenModel):
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
