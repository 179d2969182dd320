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
    from urllib.parse import urlsplit

    from bots.core.registry import PortalRegistry
    from bots.sim.portal import Kind, PortalConfig
    from bots.sim.server import serve_foreground
    from bots.sim.store import PortalStore

    settings = start(invocation(ctx).settings())
    key: Kind = portal.value  # type: ignore[assignment]  # the enum's values are the sim's kinds
    entry = PortalRegistry.load(settings.path(settings.portals_file)).portals[key]
    creds = entry.resolve_credentials(key)
    port = port or urlsplit(entry.base_url).port or 8710
    cfg = PortalConfig.from_settings(
        settings.sim,
        settings.state_path / "portal" / f"{key}.db",
        kind=key,
        layout=layout.value,
        timezone=entry.timezone,
    )
    PortalStore(cfg.db_path).upsert_user(
        creds.username.get_secret_value(),
        creds.password.get_secret_value(),
        creds.totp_secret.get_secret_value() if creds.totp_secret else None,
        creds.mailbox_token.get_secret_value() if creds.mailbox_token else None,
    )
    print(
        f"{entry.name}, {layout.value} layout, on http://127.0.0.1:{port}; its bot user from the "
        "registry's credentials",
        flush=True,
    )
    serve_foreground(cfg, port)
    return 0
