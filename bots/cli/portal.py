"""`rcmbot portal serve`: a simulated portal in the foreground, its bot user from the registry."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from bots.cli.common import invocation, start

app = typer.Typer(no_args_is_help=True)


class SimPortal(StrEnum):
    bluestem = "bluestem"
    cedar = "cedar"
    juniper = "juniper"
    harbor = "harbor"


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
            help="which simulated portal; its registry entry has the same key (cedar: see docs/onboarding.md)"
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
