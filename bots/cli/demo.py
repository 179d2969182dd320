"""`rcmbot demo`: the main job, from scratch, in a state directory of its own."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from bots.cli.common import console, invocation, print_json, start
from bots.cli.sweep import CONCURRENCY, print_summary, progress_for

DEMO_KEYS = ("claims", "checked", "by_category", "by_portal", "evidence_files", "errors", "seconds")


def demo(
    ctx: typer.Context,
    json_output: Annotated[bool, typer.Option("--json", help="print one JSON line instead of the report")] = False,
    claims: Annotated[
        int | None, typer.Option("--claims", help="worklist size (default: RCMBOT_SIM__CLAIMS, 200)")
    ] = None,
    concurrency: CONCURRENCY = None,
) -> int:
    from bots.orchestration.demo import demo_settings, fresh_state_dir, run_demo

    run = invocation(ctx)
    settings = demo_settings(run.settings(), run.state_dir)
    fresh_state_dir(settings.state_path)
    start(settings, quiet_logs=True)
    summary = run_demo(
        settings,
        claims=claims,
        concurrency=concurrency,
        say=(lambda _msg: None) if json_output else console.print,
        progress=progress_for(settings, json_output),
    )
    if json_output:
        print_json({k: summary[k] for k in DEMO_KEYS})
    else:
        print_summary(summary, settings, run.state_flag or f" --state-dir {os.path.relpath(settings.state_path)}")
    return 0 if summary["errors"] == 0 else 1
