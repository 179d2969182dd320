"""`rcmbot console`: the supervisors' web console, in the foreground until Ctrl-C."""

from __future__ import annotations

from typing import Annotated

import typer

from bots.cli.common import invocation, prepare_database, start


def console(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option("--host", help="address to listen on (default 127.0.0.1: this machine only)")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", min=0, max=65535, help="port (default 8700; 0: any free)")
    ] = None,
) -> int:
    from bots.console import start_console
    from bots.worklist.db import ensure_current, open_engine

    settings = start(invocation(ctx).settings())
    prepare_database(settings)
    engine = open_engine(settings.worklist_url)
    ensure_current(engine)
    running = start_console(settings, engine, host, port)
    try:
        print(f"rcmbot console at {running.url} (Ctrl-C stops it)", flush=True)
        if not running.app.state.accounts.users():
            print(
                f"No console users yet: add one with `rcmbot{invocation(ctx).state_flag} users add NAME --role admin`"
            )
        running.wait()
    finally:
        running.stop()
        engine.dispose()
    return 0
