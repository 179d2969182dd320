"""Sweep room: select due items, run bots over them concurrently, record every result; the
selectors check and its kept results."""

from bots.sweep.breaker import CircuitBreaker
from bots.sweep.checks import broken_portals, save_check
from bots.sweep.runner import Sweep, SweepDeps, SweepSummary, batches, new_run_id
from bots.sweep.selectorcheck import STATUSES, CheckReport, check_selectors

__all__ = [
    "CheckReport",
    "CircuitBreaker",
    "STATUSES",
    "Sweep",
    "SweepDeps",
    "SweepSummary",
    "batches",
    "broken_portals",
    "check_selectors",
    "new_run_id",
    "save_check",
]
