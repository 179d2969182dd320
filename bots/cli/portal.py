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


@app.command(
    "resume",
    help="release a portal held after its credentials were refused, once they are fixed: its "
    "items are due at the next sweep",
)
def resume(
    ctx: typer.Context,
    portal: Annotated[str, typer.Argument(help="a portal key of the registry")],
    json_output: Annotated[bool, typer.Option("--json", help="print one JSON line")] = False,
) -> int:
    import getpass

    from bots.alerts import Alerts, resume_portal
    from bots.core.errors import InputError
    from bots.core.registry import PortalRegistry
    from bots.worklist.db import ensure_current
    from bots.worklist.store import WorklistStore

    settings = start(invocation(ctx).settings(), quiet_logs=True)
    registry = PortalRegistry.load(settings.path(settings.portals_file))
    if portal not in registry.portals:
        raise InputError(f"no portal {portal!r} in {settings.portals_file} (have: {', '.join(registry.portals)})")
    store = WorklistStore(settings.worklist_url)
    ensure_current(store.engine)
    by = f"cli:{getpass.getuser()}"
    resumed = resume_portal(store, Alerts(settings, store.engine), portal, registry.portals[portal].payer_ids, by)
    if json_output:
        print_json(
            {
                "portal": portal,
                "resumed": resumed is not None,
                "held_since": resumed.hold.held_at.isoformat() if resumed else None,
                "reason": resumed.hold.reason if resumed else None,
                "items_due": resumed.items_due if resumed else 0,
            }
        )
    elif resumed is None:
        print(f"{portal} is not held: nothing to resume")
    else:
        print(
            f"{portal} resumed (held since {resumed.hold.held_at:%Y-%m-%d %H:%M} UTC: {resumed.hold.reason}); "
            f"{resumed.items_due} items are due at the next sweep"
        )
    return 0 if resumed is not None else 1
