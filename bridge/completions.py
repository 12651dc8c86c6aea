"""Per-partition log of completed work above the watermark: the two hooks of the committer.

Prototype for issue 11, pure and clock-injected (no Kafka here). One :class:`CompletionLog`
per assigned partition:

* **on assignment** - :meth:`CompletionLog.assigned` takes the committed offset and its
  metadata, returns what to skip (:class:`~bridge.offsetmap.CompletedWork`) and seeds the
  log with it, so a second crash before the watermark passes those events still skips them;
* **while running** - the pipeline reports every final event (:meth:`complete`: accepted,
  dead-lettered, or matched by no rule - recording those keeps the map compact) and, for an
  event matched by several rules, every final action (:meth:`complete_action`, by rule name);
* **on each commit** - :meth:`metadata` gives the text to commit with the watermark;
  :meth:`due` says when the same position should be committed again because only the map
  changed (rate-limited by ``min_interval_s``, the commit interval); :meth:`sent`,
  :meth:`acknowledged` and :meth:`refused` report what happened to a commit;
* **back-pressure** - when the map does not fit the budget, :meth:`metadata` commits the
  longest prefix that fits and :meth:`accepts` turns False for offsets at or above
  ``limit``: the pipeline must not start new work there until the map has room again (see
  the policy in ``bridge/offsetmap``). Nothing is dropped from the log.

When the broker refuses the metadata as too large (``OFFSET_METADATA_TOO_LARGE``: its
``offset.metadata.max.bytes`` is lower than our budget), :meth:`refused` lowers the budget to
half the refused size; below :data:`MIN_BUDGET` the map is switched off for the partition
(``enabled`` False, metadata ``""``, :meth:`accepts` always True): the bridge is then back to
watermark-only commits (more duplicates after a crash, never a loss). librdkafka does not say
which partition of a commit was refused: call :func:`refused_too_large` with the whole request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bridge.offsetmap import DEFAULT_BUDGET, CompletedWork, Intervals, decode, fit

MIN_BUDGET = 64  # below this a map holds too little to be worth the back-pressure


@dataclass(frozen=True, slots=True)
class Skipped:
    """What the assignment's map let the pipeline skip (logged once per partition)."""

    events: int
    actions: int


class CompletionLog:
    """Final offsets and actions above one partition's commit position."""

    def __init__(self, *, budget: int = DEFAULT_BUDGET, min_interval_s: float = 0.1) -> None:
        """``min_interval_s``: pass ``kafka.commit_interval_ms / 1000``; completions newer than
        the last commit are what a crash would send again."""
        self.budget = budget
        self.min_interval_s = min_interval_s
        self.enabled = budget >= MIN_BUDGET
        self.position = 0  # the commit position the log is relative to
        self.limit: int | None = None  # back-pressure: no new work at or above this offset
        self.work = CompletedWork.unknown(0, "not assigned")
        self.skipping = False
        self._done = Intervals()  # grows with the holes, not with the events
        self._partial: dict[int, set[str]] = {}
        self._text: str | None = None  # cached metadata for (position, contents)
        self._sent: tuple[int, str] | None = None  # last commit sent (position, metadata)
        self._sent_at = float("-inf")
        self._acked: tuple[int, str] | None = None  # last commit the broker confirmed
        self._skipped_events = 0
        self._skipped_actions = 0
        self._last: tuple[str, float, int] | None = None  # (text, computed at, for position)

    # -- assignment ------------------------------------------------------------------------

    def assigned(self, committed: int, metadata: str | None) -> CompletedWork:
        """Turn the committed offset + metadata into "skip these"; seed the log with it.

        ``committed`` < 0 (no commit yet) means nothing is known.
        """
        work = (
            decode(committed, metadata)
            if committed >= 0
            else CompletedWork.unknown(committed, "no committed offset")
        )
        self.work = work
        self.skipping = not work.empty  # the loop's cheap check: anything to skip at all?
        self.position = max(committed, 0)
        self._done = Intervals(work.starts, work.ends)
        self._partial = {o: set(r) for o, r in work.partial.items()}
        self._text = None
        self.limit = None
        self._acked = self._sent = (committed, metadata or "") if committed >= 0 else None
        self._skipped_events = self._skipped_actions = 0
        self._last = None
        return work

    def skip_event(self, offset: int) -> bool:
        """The event at ``offset`` was final before the crash: skip it entirely (counted)."""
        if self.work.is_done(offset):
            self._skipped_events += 1
            return True
        return False

    def skip_action(self, offset: int, rule: str) -> bool:
        """The action of ``rule`` for the event at ``offset`` was final: skip it (counted)."""
        if rule in self.work.done_rules(offset):
            self._skipped_actions += 1
            return True
        return False

    def skipped(self) -> Skipped:
        return Skipped(self._skipped_events, self._skipped_actions)

    # -- completions -----------------------------------------------------------------------

    def complete(self, offset: int) -> None:
        """Every action of the event at ``offset`` is final."""
        if offset < self.position or not self._done.add(offset):
            return
        if self._partial:
            self._partial.pop(offset, None)
        self._text = None

    def complete_action(self, offset: int, rule: str) -> None:
        """The action of ``rule`` (by name) for the event at ``offset`` is final."""
        if offset < self.position or offset in self._done:
            return
        rules = self._partial.setdefault(offset, set())
        if rule not in rules:
            rules.add(rule)
            self._text = None

    def advance(self, position: int) -> None:
        """The watermark moved to ``position``: forget what is below it."""
        if position <= self.position:
            return
        self.position = position
        self._done.discard_below(position)
        self._partial = {o: r for o, r in self._partial.items() if o >= position}
        self._text = None

    @property
    def runs(self) -> int:
        """Runs of consecutive final offsets: what the log's memory grows with."""
        return len(self._done.starts)

    @property
    def size(self) -> int:
        """Entries above the position (done events + partially done events)."""
        return len(self._done) + len(self._partial)

    # -- commits ---------------------------------------------------------------------------

    def metadata(self, position: int) -> str:
        """The metadata to commit with ``position`` (advances the log to it first).

        Recomputes the back-pressure ``limit``: None when the whole map fits.
        """
        self.advance(position)
        if self._text is None:
            if not self.enabled:
                self._text, self.limit = "", None
            else:
                frozen = {o: frozenset(r) for o, r in self._partial.items()}
                f = fit(self.position, self._done, frozen, self.budget, hint=self.limit)
                self._text, self.limit = f.text, f.limit
        return self._text

    def text_for(self, position: int, now: float, interval_s: float) -> str:
        """The map to commit with ``position``, encoded at most once per ``interval_s``.

        In between, the last map is reused although it was written for an earlier position:
        its completions at or above ``position`` are still facts (:func:`decode` accepts a
        map older than the commit), it only lacks what completed since. Encoding a large map
        costs milliseconds, so this keeps the poll loop's commit path cheap.
        """
        self.advance(position)
        if self._text is not None:
            return self._text
        last = self._last
        if last is not None and now - last[1] < interval_s and last[2] <= position:
            return last[0]
        text = self.metadata(position)
        self._last = (text, now, position)
        return text

    @property
    def last_sent(self) -> tuple[int, str] | None:
        return self._sent

    def accepts(self, offset: int) -> bool:
        """May the pipeline start new work for the event at ``offset``? (back-pressure)"""
        return self.limit is None or offset < self.limit

    def due(self, position: int, now: float) -> bool:
        """Commit ``position`` now? True when (position, map) differs from the last commit
        sent and that commit is at least ``min_interval_s`` old - the rate limit that lets the
        committer re-commit an unchanged position when only the map changed."""
        if now - self._sent_at < self.min_interval_s:
            return False
        return (position, self.metadata(position)) != (self._sent or (-1, ""))

    def sent(self, position: int, metadata: str, now: float) -> None:
        self._sent, self._sent_at = (position, metadata), now

    def acknowledged(self, position: int, metadata: str) -> None:
        self._acked = (position, metadata)

    def refused(self, metadata: str, too_large: bool) -> None:
        """A commit failed; ``too_large``: the broker's metadata limit is below our budget."""
        self._sent = self._acked
        if too_large and metadata:
            self.budget = min(self.budget, len(metadata) // 2)
            self.enabled = self.budget >= MIN_BUDGET
            self._text = None

    @property
    def committed(self) -> tuple[int, str] | None:
        """The last (position, metadata) the broker confirmed."""
        return self._acked


def assign_all(
    logs: dict[int, CompletionLog], committed: Iterable[tuple[int, int, str | None]]
) -> dict[int, CompletedWork]:
    """Convenience for an assignment callback: (partition, offset, metadata) -> skip sets."""
    out = {}
    for partition, offset, metadata in committed:
        log = logs.setdefault(partition, CompletionLog())
        out[partition] = log.assigned(offset, metadata)
    return out


def refused_too_large(logs: dict[int, CompletionLog], sent: dict[int, str]) -> list[int]:
    """Handle ``OFFSET_METADATA_TOO_LARGE`` for one commit request.

    librdkafka reports the error on every partition of the request although the broker
    committed those whose metadata fitted (see ``tests/integration/test_commit_metadata.py``),
    so the refused partition is not known. The broker's limit is below the longest metadata
    sent: the partitions that sent the longest lower their budget (:meth:`refused` with
    ``too_large``); the others are marked not committed and are sent again (harmless: the
    same position and map). Returns the partitions whose budget was lowered.
    """
    longest = max((len(t) for t in sent.values()), default=0)
    lowered = []
    for partition, text in sent.items():
        log = logs.get(partition)
        if log is None:
            continue
        too_large = bool(text) and len(text) == longest
        log.refused(text, too_large=too_large)
        if too_large:
            lowered.append(partition)
    return lowered
