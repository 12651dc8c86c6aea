"""What the sender reports to the poll loop: a batch's final :class:`Outcome`, or a
:class:`Control` (halt / resume). Built with the named constructors, never positionally."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bridge.batch import Batch


@dataclass(slots=True)
class Outcome:
    """Final result of one batch (all its items share it)."""

    batch: Batch
    accepted: bool
    status: int | None
    reason: str
    message: str
    body: str
    attempts: int
    first_failure: float
    last_failure: float
    dispatch_id: str | None = None
    response: Any = None

    @classmethod
    def success(
        cls,
        batch: Batch,
        *,
        status: int | None,
        reason: str = "",
        message: str = "",
        attempts: int = 1,
        first_failure: float = 0.0,
        dispatch_id: str | None = None,
        response: Any = None,
    ) -> Outcome:
        """Braze accepted the batch (``first_failure``: when an earlier attempt failed)."""
        return cls(
            batch, True, status, reason, message, "", attempts, first_failure, 0.0,
            dispatch_id, response,
        )  # fmt: skip

    @classmethod
    def failure(
        cls,
        batch: Batch,
        *,
        status: int | None,
        reason: str,
        message: str,
        body: str = "",
        attempts: int,
        first_failure: float,
        last_failure: float,
    ) -> Outcome:
        """The batch can never succeed: every item is dead-lettered with this context."""
        return cls(
            batch, False, status, reason, message, body, attempts, first_failure, last_failure
        )  # fmt: skip


@dataclass(slots=True)
class Control:
    """A state change the poll loop must know about (halt / resume)."""

    kind: str  # "halt" | "resume"
    reason: str
    message: str
    workspace: str = "default"  # the workspace whose sender halted or resumed
