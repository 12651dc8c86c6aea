"""The processing core, one responsibility per module.

sources    which records the loop reads (a topic, or the dead-letter topic for replay)
mapper     decode -> match -> dedupe -> build: items | failures | skip | retry later (pure)
router     where results go: batches to the sender or shadow log, failures to dead letters,
           delivery outcomes back to tickets
committer  the commit protocol (requested vs. confirmed positions, stale acknowledgements)
flow       the one set of pause reasons that drives pause/resume, readiness, halt gauges
rebalance  assign / revoke / lost, and the drain on shutdown
loop       consume -> record -> map -> route, once per poll
"""

from bridge.processing.loop import Loop

__all__ = ["Loop"]
