"""Where a claim's wall time goes, measured by profiling a real sweep with yappi: a tracing
profiler that follows threads and coroutines on the wall clock, so a coroutine's total time
includes what it awaited (the browser, the portal, a database thread).

Tracing slows every Python call, so the Python-heavy parts (Prefect's task engine above all)
come out larger than they are without the profiler: the overhead figures are upper bounds."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import yappi

T = TypeVar("T")

# name -> (function name as yappi reports it, path suffix of its module)
FUNCTIONS = {
    "claim": ("run_task_async", "prefect/task_engine.py"),  # one check-claim task run, end to end
    "check_and_record": ("Sweep.check_and_record", "bots/sweep/runner.py"),
    "check": ("PortalBot._retried", "bots/claimstatus/bot.py"),  # every attempt, hooks included
    "login": ("SharedLogin.refresh", "bots/claimstatus/login.py"),
    "record": ("Sweep.record", "bots/sweep/runner.py"),
    "store_evidence": ("Sweep._store_evidence", "bots/sweep/runner.py"),
    "capture": ("capture", "bots/browser/capture.py"),
    "palette": ("to_palette_png", "bots/browser/capture.py"),
    "goto": ("Page.goto", "playwright/async_api/_generated.py"),
}


@contextmanager
def profiled() -> Iterator[Callable[[int], dict[str, Any]]]:
    """Profile the body; yields breakdown(claims) to call afterwards."""
    yappi.clear_stats()
    yappi.set_clock_type("wall")
    yappi.start(builtins=False, profile_threads=True)
    try:
        yield _breakdown
    finally:
        yappi.stop()


def _totals() -> dict[str, float]:
    totals = dict.fromkeys(FUNCTIONS, 0.0)
    for stat in yappi.get_func_stats():
        for key, (name, module) in FUNCTIONS.items():
            if stat.name == name and stat.module.endswith(module):
                totals[key] += stat.ttot
    return totals


def _breakdown(claims: int) -> dict[str, Any]:
    """Seconds per claim by part, and each part's share of a claim's wall time."""
    t = _totals()
    parts = {
        "portal round trips (page loads)": t["goto"],
        "reading pages (screen checks, parsing)": t["check"]
        - t["goto"]
        - t["capture"]
        - t["store_evidence"]
        - t["login"],
        "login (shared, once per run)": t["login"],
        "screenshot and HTML snapshot": t["capture"] - t["palette"],
        "palette PNG encoding": t["palette"],
        "evidence store (hash, write, manifest)": t["store_evidence"],
        "worklist database (record, history)": t["record"],
        "Prefect task engine": t["claim"] - t["check_and_record"],
    }
    overhead = sum(
        parts[k]
        for k in (
            "evidence store (hash, write, manifest)",
            "worklist database (record, history)",
            "Prefect task engine",
        )
    )
    total = t["claim"] or 1.0
    return {
        "claims": claims,
        "claim_seconds": round(total / max(claims, 1), 4),
        "parts": {
            k: {"seconds_per_claim": round(v / max(claims, 1), 4), "share": round(v / total, 4)}
            for k, v in parts.items()
        },
        "orchestration_overhead_share": round(overhead / total, 4),
    }
