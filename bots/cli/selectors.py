"""`rcmbot selectors check`."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from bots.cli.common import invocation, print_json, start

app = typer.Typer(no_args_is_help=True)


@app.command(
    "check",
    help="drive a live portal through every screen with its canary claims; report each "
    "element ok, drift, broken or not reached (exit 1 on broken)",
)
def check(
    ctx: typer.Context,
    portal: Annotated[str, typer.Argument(help="a portal key of the registry")],
    portal_url: Annotated[str | None, typer.Option("--portal-url", help="override the registry's base URL")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="print one JSON line")] = False,
) -> int:
    from bots.sweep.selectorcheck import STATUSES, check_selectors

    settings = start(invocation(ctx).settings(), quiet_logs=True)
    report = asyncio.run(check_selectors(settings, portal, portal_url))
    if json_output:
        print_json(
            {
                "portal": report.portal,
                "checked_at": report.checked_at,
                "counts": report.counts,
                "elements": report.elements,
                "canaries": report.canaries,
            }
        )
        return 1 if report.broken else 0
    width = max(map(len, report.elements))
    for status in STATUSES:
        for key, element in report.elements.items():
            if element["status"] == status:
                print(f"  {status:<12} {key:<{width}}  {element['detail']}")
    print(
        f"\n{report.portal}: "
        + ", ".join(f"{n} {s}" for s, n in report.counts.items())
        + f" ({len(report.canaries)} canaries, {report.seconds:.0f} s)"
    )
    for canary in report.canaries:
        if canary["error"]:
            print(f"  canary {canary['canary']}: {canary['error']}")
    return 1 if report.broken else 0
