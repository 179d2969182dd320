"""`rcmbot portal serve`: a simulated portal in the foreground, its bot user from the registry.
`rcmbot portal validate`: one portal's files, hook and credentials checked without a browser."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from bots.cli.common import invocation, print_json, start

app = typer.Typer(no_args_is_help=True)


class SimPortal(StrEnum):
    bluestem = "bluestem"
    cedar = "cedar"
    juniper = "juniper"
    harbor = "harbor"
    sagebrush = "sagebrush"


class Layout(StrEnum):
    normal = "normal"
    drift = "drift"


@app.command(
    "serve",
    help="serve a simulated portal on 127.0.0.1, its bot user taken from the registry's "
    "credentials (e.g. $RCMBOT_BLUESTEM_USERNAME)",
)
def serve(
    ctx: typer.Context,
    portal: Annotated[
        SimPortal,
        typer.Argument(
            help="which simulated portal; its registry entry has the same key "
            "(cedar, sagebrush: add it as docs/onboarding.md shows)"
        ),
    ] = SimPortal.bluestem,
    port: Annotated[int | None, typer.Option("--port", help="default: the port of the registry's base_url")] = None,
    layout: Annotated[
        Layout, typer.Option("--layout", help="drift: labels and names the selector map tries first are changed")
    ] = Layout.normal,
) -> int:
    from bots.sim.server import registered_portal, serve_foreground

    settings = start(invocation(ctx).settings())
    cfg, port, name = registered_portal(settings, portal.value, layout.value, port)  # type: ignore[arg-type]
    print(
        f"{name}, {layout.value} layout, on http://127.0.0.1:{port}; its bot user from the registry's credentials",
        flush=True,
    )
    serve_foreground(cfg, port)
    return 0


@app.command(
    "validate",
    help="check a portal's registry entry, selector map, status map, hook and credentials without "
    "a browser; print every problem with its file, line and key (exit 1 if there are any)",
)
def validate(
    ctx: typer.Context,
    portal: Annotated[str, typer.Argument(help="a portal key of the registry")],
    json_output: Annotated[bool, typer.Option("--json", help="print one JSON line")] = False,
) -> int:
    from bots.claimstatus.validate import validate_portal

    # start(): Prefect's environment, so credentials kept in Prefect Secret blocks can be read
    # (Prefect itself is imported only if the entry names a block).
    report = validate_portal(start(invocation(ctx).settings(), quiet_logs=True), portal)
    if json_output:
        print_json(
            {
                "portal": report.portal,
                "valid": report.valid,
                "problems": [
                    {"file": p.file, "line": p.line, "key": p.key, "problem": p.problem} for p in report.problems
                ],
                "not_checked": report.not_checked,
            }
        )
    else:
        for problem in report.problems:
            print(problem.located)
        print(report.summary())
    return 0 if report.valid else 1
