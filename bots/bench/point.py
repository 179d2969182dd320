"""One benchmark point, run in its own process so the parent can measure this process tree's
memory alone: one mode at one concurrency over the bench worklist.

    python -m bots.bench.point SPEC.json RESULT.json

Credentials come from the environment (the registry's variables), never from the spec file."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from playwright.async_api import async_playwright

from bots.bench import plain
from bots.bench.marks import mark_and_wait, marks
from bots.core.registry import PortalRegistry
from bots.core.settings import Settings


def run_rcmbot(spec: dict[str, Any]) -> dict[str, Any]:
    """rcmbot's sweep flow with default settings: embedded Prefect, worklist, evidence."""
    from bots.core.logs import configure_logging
    from bots.core.memory import limit_malloc_arenas
    from bots.orchestration.prefect_env import configure_prefect

    limit_malloc_arenas()  # as every rcmbot command does
    settings = Settings()
    configure_prefect(settings)
    configure_logging(settings.log.model_copy(update={"level": "WARNING"}))

    from prefect.client.orchestration import get_client

    from bots.bench.profile import profiled
    from bots.evidence.setup import evidence_store
    from bots.orchestration.sweepflow import run_sweep_flow
    from bots.sweep.runner import SweepDeps
    from bots.worklist.csvio import read_worklist_csv
    from bots.worklist.db import upgrade
    from bots.worklist.store import WorklistStore

    upgrade(settings.worklist_url)
    WorklistStore(settings.worklist_url).upsert(read_worklist_csv(Path(spec["worklist_csv"])))
    with get_client(sync_client=True) as client:  # start embedded Prefect before the clock does
        client.hello()
    with profiled() if spec.get("profile") else contextlib.nullcontext() as breakdown:
        with clock(spec) as elapsed:
            summary = run_sweep_flow(
                SweepDeps.load(settings),
                limit=None,
                concurrency=spec["concurrency"],
                portal_urls={"bluestem": spec["portal_url"]},
            )
        wall = elapsed()
    per_item: dict[int, int] = {}
    for record in evidence_store(settings).records():
        per_item[record.item_id] = per_item.get(record.item_id, 0) + record.size
    counts = summary["by_category"]
    profile = {"profile": breakdown(summary["claims"]) | {"wall_seconds": round(wall, 1)}} if breakdown else {}
    return profile | {
        "seconds": wall,
        "durations": task_run_seconds(summary["flow_run_id"], summary["claims"]),
        "evidence": list(per_item.values()),
        "errors": summary["errors"],
        "outcomes": {
            "not_found": counts.get("not_found", 0),
            "ambiguous": counts.get("ambiguous", 0),
            "detail": summary["checked"] - counts.get("not_found", 0) - counts.get("ambiguous", 0),
        },
    }


@contextlib.contextmanager
def clock(spec: dict[str, Any]) -> Iterator[Callable[[], float]]:
    """Time the claims' checking, marking its start and end for the parent, which samples the
    CPU of this process tree at each mark before the clock moves on."""
    started_mark, ended_mark = marks(Path(spec["result"]))
    mark_and_wait(started_mark)
    started = time.monotonic()
    seconds: list[float] = []
    try:
        yield lambda: seconds[0]
    finally:
        seconds.append(time.monotonic() - started)
        mark_and_wait(ended_mark)


def task_run_seconds(flow_run_id: str, expected: int, wait_s: float = 60) -> list[float]:
    """Each check-claim task run's duration, as Prefect recorded it. Task runs reach the
    server as events, so wait until all of them have arrived."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        TaskRunFilter,
        TaskRunFilterState,
        TaskRunFilterStateType,
    )

    flow_filter = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
    done = TaskRunFilter(state=TaskRunFilterState(type=TaskRunFilterStateType(any_=["COMPLETED"])))
    deadline = time.monotonic() + wait_s
    with get_client(sync_client=True) as client:
        while True:
            runs: list[Any] = []
            while batch := client.read_task_runs(
                flow_run_filter=flow_filter, task_run_filter=done, limit=200, offset=len(runs)
            ):
                runs.extend(batch)
            seconds = [(r.end_time - r.start_time).total_seconds() for r in runs if r.end_time and r.start_time]
            if len(seconds) >= expected or time.monotonic() > deadline:
                return seconds
            time.sleep(0.5)


async def run_baseline(spec: dict[str, Any]) -> dict[str, Any]:
    """The plain or naive script; same portal, same items, same screenshots."""
    entry = PortalRegistry.load(Settings().path(Settings().portals_file)).portals["bluestem"]
    creds = entry.resolve_credentials("bluestem")
    assert creds.totp_secret is not None
    job = plain.Job(
        base_url=spec["portal_url"],
        username=creds.username.get_secret_value(),
        password=creds.password.get_secret_value(),
        totp_secret=creds.totp_secret.get_secret_value(),
        items=spec["items"],
        concurrency=spec["concurrency"],
        executable=spec["executable"],
        args=spec["args"],
        screenshot=spec["screenshot"],
    )
    script = plain.plain if spec["mode"] == "plain" else plain.naive
    with clock(spec) as elapsed:  # Playwright's driver starts inside, as rcmbot's sweep starts its own
        async with async_playwright() as pw:
            done = await script(pw, job)
    wall = elapsed()
    return {
        "seconds": wall,
        "durations": [d.seconds for d in done],
        "evidence": [d.evidence_bytes for d in done],
        "errors": len(job.items) - len(done),
        "outcomes": {k: sum(d.outcome == k for d in done) for k in ("not_found", "ambiguous", "detail")},
    }


def main(spec_path: str, out_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text()) | {"result": out_path}
    result = run_rcmbot(spec) if spec["mode"] == "rcmbot" else asyncio.run(run_baseline(spec))
    result["evidence_median"] = statistics.median(result["evidence"]) if result["evidence"] else 0
    tmp = Path(out_path + ".tmp")
    tmp.write_text(json.dumps(result))
    os.replace(tmp, out_path)


if __name__ == "__main__":
    main(*sys.argv[1:3])
