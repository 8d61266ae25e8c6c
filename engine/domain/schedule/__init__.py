"""Schedules, the pure core: what a schedule says, its events, its state, ``evolve`` and ``react``.

A schedule is an entity with its own log (``<prefix>.schedules``, keyed by schedule id), folded like an execution.
Time enters as ``ScheduleTick`` events that the processor writes when a tick is due; reading one back decides
whether it fires (catch-up and overlap policies). A fired tick starts the execution whose id is derived from
(schedule id, logical time), so a tick can start at most one execution however often it is decided.
"""
