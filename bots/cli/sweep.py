"""`rcmbot sweep` and `rcmbot serve`, and how a sweep's progress and summary are shown."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from bots.cli.common import (
    console,
    data_env,
    invocation,
    prepare_database,
    print_json,
    print_table,
    rcmbot_program,
    start,
)
from bots.core.errors import InputError
from bots.core.settings import Settings

JSON = Annotated[bool, typer.Option("--json", help="print the summary as one JSON line")]
CONCURRENCY = Annotated[int | None, typer.Option("--concurrency", help="browser pages working at once")]


class SweepProgress:
    """How many items this run has recorded, read from the worklist database while the flow
    runs on this thread: a Rich bar on a terminal, a line every 25 claims otherwise."""

    POLL_S = 0.5

    def __init__(self, settings: Settings, run_id: str, total: int) -> None:
        from bots.worklist.store import WorklistStore

        self.store, self.run_id, self.total = WorklistStore(settings.worklist_url), run_id, total
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="sweep-progress", daemon=True)
        self._bar = (
            Progress("  ", BarColumn(), MofNCompleteColumn(), "claims", TimeElapsedColumn(), console=console)
            if console.is_terminal
            else None
        )
        self._task = self._bar.add_task("sweep", total=total) if self._bar else None
        self._last = 0

    def _show(self, done: int) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=done)
        elif done // 25 > self._last // 25 or (done == self.total and done != self._last):  # every 25 passed
            print(f"  {done}/{self.total} claims checked", flush=True)
        self._last = done

    def _poll(self) -> None:
        while not self._stop.wait(self.POLL_S):
            self._show(self.store.checked_in_run(self.run_id))

    def __enter__(self) -> SweepProgress:
        if self._bar is not None:
            self._bar.start()
        self._poller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._poller.join()
        self._show(self.store.checked_in_run(self.run_id))
        if self._bar is not None:
            self._bar.stop()


def progress_for(settings: Settings, json_output: bool) -> Any:
    return None if json_output else (lambda run_id, total: SweepProgress(settings, run_id, total))


def print_summary(summary: dict[str, Any], settings: Settings, state_flag: str) -> None:
    from bots.core.models import Outcome, category_name

    labels = {
        Outcome.NOT_FOUND: "not found",
        Outcome.AMBIGUOUS: "ambiguous (several match)",
        Outcome.UNMAPPED: "unmapped status text",
        Outcome.ERROR: "failed (see below)",
        Outcome.DEFERRED: "deferred to the next sweep",
        Outcome.MANUAL: "manual follow-up",
    }
    console.print(
        f"\nChecked {summary['checked']} of {summary['claims']} claims in {summary['seconds']:.0f} s "
        f"(run {summary['run_id']}).\n"
    )
    if summary.get("held_elsewhere"):
        console.print(f"{summary['held_elsewhere']} due items were being worked by another sweep: left to it.\n")
    table = Table("outcome", "claims", box=None, pad_edge=False, min_width=44)
    table.columns[1].justify = "right"
    for key, n in sorted(summary["by_category"].items(), key=lambda kv: (kv[0] in labels, kv[0])):
        table.add_row(labels.get(key, f"{key} {category_name(key)}"), str(n))  # type: ignore[call-overload]
    print_table(table)
    console.print(f"\nEvidence: {summary['evidence_files']} files under {settings.evidence_path}")
    if summary.get("by_portal"):
        console.print("Checked per portal: " + ", ".join(f"{k} {v}" for k, v in summary["by_portal"].items()))
    for portal, reason in summary.get("needs_person", {}).items():
        console.print(f"A PERSON IS NEEDED for {portal}: {reason}")
    for outcome, reasons in summary.get("not_checked", {}).items():
        console.print(f"Not checked, {labels[Outcome(outcome)].removesuffix(' (see below)')}:")
        for reason, n in reasons.items():
            console.print(f"  {n:>5}  {reason}")
    if summary.get("by_failure"):
        console.print("By kind: " + ", ".join(f"{kind} {n}" for kind, n in summary["by_failure"].items()))
    if summary.get("drift"):
        console.print(f"Selector drift (fix the map): {summary['drift']}")
    console.print("\nWhere to look next:")
    for cmd in (
        "worklist show --limit 20",
        "worklist export --out worklist-results.csv",
        "evidence list --limit 5",
        "evidence verify",
    ):
        console.print(f"  {data_env()}{rcmbot_program()}{state_flag} {cmd}")


def sweep(
    ctx: typer.Context,
    limit: Annotated[int | None, typer.Option("--limit", help="check at most this many items")] = None,
    concurrency: CONCURRENCY = None,
    portal_url: Annotated[
        list[str] | None,
        typer.Option(
            "--portal-url", metavar="PORTAL=URL", help="override a registry base URL for this run (repeatable)"
        ),
    ] = None,
    json_output: JSON = False,
) -> int:
    from bots.orchestration.sweepflow import run_sweep_flow
    from bots.sweep.runner import SweepDeps

    run = invocation(ctx)
    settings = start(run.settings())
    urls = {}
    for pair in portal_url or []:
        key, _, url = pair.partition("=")
        parts = urlsplit(url)
        if not key or parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"--portal-url {pair!r}: expected PORTAL=URL, e.g. bluestem=http://127.0.0.1:8710")
        urls[key] = url
    prepare_database(settings)
    summary = run_sweep_flow(
        SweepDeps.load(settings),
        limit=limit,
        concurrency=concurrency,
        portal_urls=urls or None,
        progress=progress_for(settings, json_output),
    )
    if json_output:
        print_json(summary)
    else:
        print_summary(summary, settings, run.state_flag)
    return 0 if summary["errors"] == 0 else 1


def serve(
    ctx: typer.Context,
    prefect_yaml: Annotated[Path, typer.Option("--prefect-yaml", help="deployments to serve")] = Path("prefect.yaml"),
    port: Annotated[
        int | None, typer.Option("--port", help="Prefect server port (default: RCMBOT_PREFECT__SERVE_PORT)")
    ] = None,
) -> int:
    from bots.console import start_console
    from bots.orchestration.serve import serve as serve_deployments
    from bots.worklist.db import ensure_current, open_engine

    settings = start(invocation(ctx).settings())
    if port:
        settings.prefect.serve_port = port
    prepare_database(settings)
    engine = open_engine(settings.worklist_url)
    ensure_current(engine)
    running = start_console(settings, engine)  # approvals are applied by the apply flow's schedule
    print(f"rcmbot console at {running.url}", flush=True)
    try:
        return serve_deployments(settings, settings.path(prefect_yaml))
    finally:
        running.stop()
        engine.dispose()
