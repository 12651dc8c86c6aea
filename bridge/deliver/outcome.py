"""What the sender reports to the poll loop: a batch's final :class:`Outcome`, or a
:class:`Control` (halt / resume). Built with the named constructors, never positionally."""

from __future__ import annotations

from dataclasses import dataclass, field
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
    # 2xx with errors[]: Braze's entries, and the indices (into batch.items) of the items they
    # affect (all items unless every entry names recipients of the batch). Those items were
    # not delivered: the router dead-letters them with class "partial".
    partial_errors: list[str] = field(default_factory=list)
    partial_items: tuple[int, ...] = ()

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
        partial_errors: list[str] | None = None,
        partial_items: tuple[int, ...] = (),
    ) -> Outcome:
        """Braze accepted the batch (``first_failure``: when an earlier attempt failed);
        ``partial_items``: the items a 2xx's ``errors[]`` says were not delivered."""
        return cls(
            batch, True, status, reason, message, "", attempts, first_failure, 0.0,
            dispatch_id, response, partial_errors or [], partial_items,
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
