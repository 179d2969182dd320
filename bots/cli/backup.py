"""`rcmbot backup DIR` and `rcmbot restore DIR`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bots.cli.common import invocation, start


def backup(
    ctx: typer.Context, dest: Annotated[Path, typer.Argument(help="a new (or empty) directory for the copy")]
) -> int:
    from bots.orchestration.backup import backup as take

    settings = start(invocation(ctx).settings(), quiet_logs=True)
    copied = take(settings, dest)
    print(
        f"backed up the worklist database and {copied.records} evidence record(s), {copied.objects} file(s) "
        f"({copied.bytes / 1e6:.1f} MB) to {dest}; it holds the evidence keys too: keep it as safe as they are"
    )
    return 0


def restore(
    ctx: typer.Context, source: Annotated[Path, typer.Argument(help="a directory `rcmbot backup` wrote")]
) -> int:
    from bots.orchestration.backup import restore as put_back

    settings = start(invocation(ctx).settings(), quiet_logs=True)
    copied = put_back(settings, source)
    print(
        f"restored the worklist database and {copied.records} evidence record(s), {copied.objects} file(s) into "
        f"{settings.state_path}; check them with: rcmbot evidence verify"
    )
    return 0
