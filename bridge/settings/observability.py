"""The ``observability`` block: the metrics/health HTTP server, log level, format and PII."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bridge.settings.base import FrozenModel


class ObservabilitySettings(FrozenModel):
    """Metrics/health HTTP server and logs."""

    enabled: bool | None = Field(
        None,
        description="Serve /metrics, /healthz and /readyz. Unset: served unless port is 0. "
        "true: always served, and with port 0 on an ephemeral port that the start-up line "
        "'metrics server listening' (fields host, port; level INFO) reports. false: not served",
    )
    host: str = "0.0.0.0"
    port: int = Field(
        9102,
        ge=0,
        le=65535,
        description="Port of the HTTP server. 0 disables it, unless enabled is true: then the "
        "OS picks a free port (see enabled)",
    )
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

    def serves_http(self) -> bool:
        """Whether the bridge runs the HTTP server: ``enabled`` when set, else ``port != 0``
        (so a config written before ``enabled`` existed keeps its meaning)."""
        return self.enabled if self.enabled is not None else self.port != 0
