"""`rcmbot demo`: the main job, from scratch, in a state directory of its own."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer

from bots.cli.common import console, invocation, print_json, start
from bots.cli.sweep import CONCURRENCY, print_summary, progress_for
from bots.core.settings import Settings

DEMO_KEYS = ("claims", "checked", "by_category", "by_portal", "evidence_files", "errors", "seconds", "review_tasks")


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
    state_flag = run.state_flag or f" --state-dir {os.path.relpath(settings.state_path)}"

    def console_until_interrupted(summary: dict[str, Any], portal_urls: dict[str, str]) -> None:
        print_summary(summary, settings, state_flag)
        keep_console_open(settings, summary, portal_urls)

    summary = run_demo(
        settings,
        claims=claims,
        concurrency=concurrency,
        say=(lambda _msg: None) if json_output else console.print,
        progress=progress_for(settings, json_output),
        then=None if json_output else console_until_interrupted,
    )
    if json_output:
        print_json({k: summary[k] for k in DEMO_KEYS})
    return 0 if summary["errors"] == 0 else 1


def keep_console_open(settings: Settings, summary: dict[str, Any], portal_urls: dict[str, str]) -> None:
    """The console and the simulated portals, up until Ctrl-C, approvals applied as they come."""
    from bots.accounts import add_demo_users
    from bots.console import start_console
    from bots.orchestration.applyflow import ApplyTrigger
    from bots.worklist.db import open_engine

    engine = open_engine(settings.worklist_url)
    running = start_console(settings, engine, port=0, apply_trigger=ApplyTrigger(settings, portal_urls))
    try:
        users = add_demo_users(running.app.state.accounts)
        console.print(f"\n{summary['review_tasks']} review tasks wait in the console: {running.url}")
        console.print("Sign in as (passwords exist only here, for this demo):")
        for name, role, password in users:
            console.print(f"  {name:<6} {role.value:<11} {password}")
        console.print(
            "Two supervisors: one edits a proposed decision, the other approves it (maker-checker); "
            "approved requests go to the simulated portal at once. Ctrl-C stops the demo."
        )
        running.wait()
    except KeyboardInterrupt:
        console.print("Stopped.")
    finally:
        running.stop()
        engine.dispose()
