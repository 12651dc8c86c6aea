"""The base of every settings block: frozen (read once, passed down) and strict (an unknown
key is an error, not silently ignored)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class FrozenModel(BaseModel):
    """A settings block: immutable after validation, and extra keys are refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")
