"""The ``observability`` block: the metrics/health HTTP server, log level, format and PII."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bridge.settings.base import FrozenModel


class ObservabilitySettings(FrozenModel):
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
