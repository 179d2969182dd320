"""`rcmbot db upgrade`: the one way a shared worklist database is migrated."""

from __future__ import annotations

import typer

from bots.cli.common import invocation, start

app = typer.Typer(no_args_is_help=True)


@app.command("upgrade", help="bring the worklist database to the newest schema (under a lock on PostgreSQL)")
def upgrade(ctx: typer.Context) -> int:
    from sqlalchemy.engine import make_url

    from bots.worklist.db import upgrade as upgrade_database

    settings = start(invocation(ctx).settings())
    before, after = upgrade_database(settings.worklist_url)
    where = make_url(settings.worklist_url).render_as_string(hide_password=True)
    print(
        f"worklist database {where}: "
        + (f"already at {after}" if before == after else f"upgraded from {before or 'empty'} to {after}")
    )
    return 0
