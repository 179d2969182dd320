"""`rcmbot selectors check`."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer

from bots.cli.common import invocation, prepare_database, print_json, start

app = typer.Typer(no_args_is_help=True)


@app.command(
    "check",
    help="drive a live portal through every screen with its canary claims, as the sweep would; report "
    "each element ok, drift, broken, not shown, not reached or absent, and each canary passed or failed "
    "(exit 1 on a broken element or a failed canary)",
)
def check(
    ctx: typer.Context,
    portal: Annotated[str, typer.Argument(help="a portal key of the registry")],
    portal_url: Annotated[str | None, typer.Option("--portal-url", help="override the registry's base URL")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="print one JSON line")] = False,
) -> int:
    from bots.sweep.selectorcheck import STATUSES, check_selectors

    settings = start(invocation(ctx).settings(), quiet_logs=True)
    prepare_database(settings)  # a failed check raises an alert, kept there
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
        return 0 if report.passed else 1
    width = max(map(len, report.elements))
    for status in STATUSES:
        for key, element in report.elements.items():
            if element["status"] == status:
                print(f"  {status:<12} {key:<{width}}  {element['detail']}")
    print()
    for canary in report.canaries:
        print(f"  canary {canary['canary']}: {'passed' if canary['passed'] else 'FAILED'}, {_found(canary)}")
    failed = len(report.failed_canaries)
    print(
        f"\n{report.portal}: "
        + ", ".join(f"{n} {s}" for s, n in report.counts.items())
        + f"; {len(report.canaries) - failed} of {len(report.canaries)} canaries passed ({report.seconds:.0f} s)"
    )
    return 0 if report.passed else 1


def _found(canary: dict[str, Any]) -> str:
    """What a canary's check found, in a line: its outcome, what it missed, its evidence."""
    words = [canary["outcome"] + (f" {canary['category']}" if canary["category"] else "")]
    if canary["error"]:
        words.append(canary["error"])
    if canary["missed"]:
        words.append(f"did not reach {', '.join(canary['missed'])}")
    if canary["evidence"] and not canary["passed"]:
        words.append(f"its screens: {', '.join(canary['evidence'])}")
    return "; ".join(words)
